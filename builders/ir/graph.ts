/**
 * The graph IR every pass works on. Nodes and values are keyed by name; initializers are decoded tensors.
 * Mutate only through addNode / removeNode / replaceAllUses / setInitializer / removeInitializer so the
 * producer and consumer indexes stay right. `check()` runs after every pass.
 */
import { InternalError } from '../../core/errors.js';
import { DataType, Tensor, makeTensor, toFloat32, toNumbers, type TensorData } from '../../core/tensor.js';

export type Dim = number | string;

/** The name of a symbolic batch dimension rebake writes (make-batch-dynamic, bake-preprocess). */
export const BATCH_DIM = 'N';

export interface ValueInfo {
  name: string;
  elemType: DataType;
  /** undefined = rank unknown; a string dim is symbolic (e.g. `batch`), -1 an anonymous unknown dim. */
  shape?: Dim[];
}

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'strings'; value: string[] }
  | { kind: 'tensor'; value: Tensor }
  /** Anything else (subgraphs, type protos): carried through untouched as the decoded proto object. */
  | { kind: 'opaque'; value: unknown };

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface NodeSpec {
  name?: string;
  opType: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue | number | number[] | string>;
}

export function attr(v: number | number[] | string | AttrValue, isFloat = false): AttrValue {
  if (typeof v === 'object' && !Array.isArray(v)) return v;
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return isFloat ? { kind: 'floats', value: v } : { kind: 'ints', value: v };
  return isFloat || !Number.isInteger(v) ? { kind: 'float', value: v } : { kind: 'int', value: v };
}

export class Graph {
  name = 'main';
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  /** Intermediate value types (ONNX value_info), kept when known. */
  valueInfo = new Map<string, ValueInfo>();
  readonly initializers = new Map<string, Tensor>();
  private readonly nodeMap = new Map<string, Node>();
  private readonly producers = new Map<string, Node>();
  private readonly consumerMap = new Map<string, Set<Node>>();
  private usedNames = new Set<string>();
  private nameCounter = 0;

  get nodes(): Node[] {
    return [...this.nodeMap.values()];
  }

  get nodeCount(): number {
    return this.nodeMap.size;
  }

  node(name: string): Node | undefined {
    return this.nodeMap.get(name);
  }

  /** A name unused by any node, value or initializer, derived from `base`. */
  uniqueName(base: string): string {
    let name = base;
    while (this.usedNames.has(name) || this.initializers.has(name) || this.nodeMap.has(name)) {
      name = `${base}_${++this.nameCounter}`;
    }
    this.usedNames.add(name);
    return name;
  }

  addNode(spec: NodeSpec): Node {
    const name = spec.name && !this.nodeMap.has(spec.name) ? spec.name : this.uniqueName(spec.name ?? spec.opType);
    const attrs: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(spec.attrs ?? {})) attrs[k] = attr(v);
    const node: Node = { name, opType: spec.opType, domain: spec.domain ?? '', inputs: [...spec.inputs], outputs: [...spec.outputs], attrs };
    for (const out of node.outputs) {
      if (out === '') continue;
      const prev = this.producers.get(out);
      if (prev) throw new InternalError(`value ${out} already produced by ${prev.name}; ${name} cannot produce it too`);
      this.producers.set(out, node);
      this.usedNames.add(out);
    }
    for (const inp of node.inputs) if (inp !== '') this.consumerSet(inp).add(node);
    this.nodeMap.set(name, node);
    this.usedNames.add(name);
    return node;
  }

  removeNode(node: Node | string): void {
    const n = typeof node === 'string' ? this.nodeMap.get(node) : node;
    if (!n || this.nodeMap.get(n.name) !== n) throw new InternalError(`removeNode: no node ${typeof node === 'string' ? node : node.name}`);
    for (const out of n.outputs) if (this.producers.get(out) === n) this.producers.delete(out);
    for (const inp of n.inputs) this.consumerMap.get(inp)?.delete(n);
    this.nodeMap.delete(n.name);
  }

  /** Point every node input and graph output that reads `from` at `to` instead. */
  replaceAllUses(from: string, to: string): void {
    if (from === to) return;
    for (const n of [...this.consumers(from)]) this.setInput(n, null, from, to);
    for (const o of this.outputs) {
      if (o.name === from) throw new InternalError(`replaceAllUses: ${from} is a graph output; rename the producer instead`);
    }
  }

  /** Replace input `index` (or every occurrence of `from`) of node n. */
  setInput(n: Node, index: number | null, from: string | null, to: string): void {
    const idx = index === null ? n.inputs.map((v, i) => (v === from ? i : -1)).filter((i) => i >= 0) : [index];
    for (const i of idx) {
      const old = n.inputs[i];
      n.inputs[i] = to;
      if (!n.inputs.includes(old)) this.consumerMap.get(old)?.delete(n);
      if (to !== '') this.consumerSet(to).add(n);
    }
  }

  /** Rename the value a node produces (keeps the producer index right). */
  renameOutput(n: Node, index: number, to: string): void {
    const old = n.outputs[index];
    if (this.producers.get(old) === n) this.producers.delete(old);
    if (this.producers.has(to)) throw new InternalError(`renameOutput: ${to} already has a producer`);
    n.outputs[index] = to;
    this.producers.set(to, n);
    this.usedNames.add(to);
  }

  producer(value: string): Node | undefined {
    return this.producers.get(value);
  }

  consumers(value: string): Node[] {
    return [...(this.consumerMap.get(value) ?? [])];
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.some((o) => o.name === value);
  }

  isGraphInput(value: string): boolean {
    return this.inputs.some((i) => i.name === value);
  }

  /** Number of readers of a value: node inputs plus graph outputs. */
  useCount(value: string): number {
    let n = 0;
    for (const c of this.consumerMap.get(value) ?? []) n += c.inputs.filter((i) => i === value).length;
    return n + (this.isGraphOutput(value) ? 1 : 0);
  }

  setInitializer(t: Tensor): void {
    this.initializers.set(t.name, t);
    this.usedNames.add(t.name);
  }

  addInitializer(base: string, dataType: DataType, dims: number[], data: TensorData | ArrayLike<number>): string {
    const name = this.uniqueName(base);
    this.setInitializer(makeTensor(name, dataType, dims, data));
    return name;
  }

  removeInitializer(name: string): void {
    this.initializers.delete(name);
  }

  /**
   * The constant tensor behind a value, if it is one: an initializer (not also a graph input), a Constant
   * node's output, or an Identity of either (the PyTorch exporter shares deduplicated weights that way).
   */
  constant(value: string): Tensor | undefined {
    const init = this.initializers.get(value);
    if (init) return this.isGraphInput(value) ? undefined : init;
    const p = this.producers.get(value);
    if (!p) return undefined;
    if (p.opType === 'Identity' && p.domain === '') return this.constant(p.inputs[0]);
    if (p.opType !== 'Constant' || p.domain !== '') return undefined;
    const a = p.attrs.value;
    if (a?.kind === 'tensor') return a.value;
    if (p.attrs.value_float?.kind === 'float') return makeTensor(value, DataType.FLOAT, [], [p.attrs.value_float.value]);
    if (p.attrs.value_floats?.kind === 'floats') {
      const v = p.attrs.value_floats.value;
      return makeTensor(value, DataType.FLOAT, [v.length], v);
    }
    if (p.attrs.value_int?.kind === 'int') return makeTensor(value, DataType.INT64, [], [p.attrs.value_int.value]);
    if (p.attrs.value_ints?.kind === 'ints') {
      const v = p.attrs.value_ints.value;
      return makeTensor(value, DataType.INT64, [v.length], v);
    }
    return undefined;
  }

  constantFloats(value: string): Float32Array | undefined {
    const t = this.constant(value);
    return t ? toFloat32(t) : undefined;
  }

  constantInts(value: string): number[] | undefined {
    const t = this.constant(value);
    return t ? toNumbers(t) : undefined;
  }

  /** Known element type and shape of a value (graph inputs/outputs, value_info, initializers). */
  valueType(value: string): ValueInfo | undefined {
    const init = this.initializers.get(value);
    if (init) return { name: value, elemType: init.dataType, shape: init.dims };
    return this.inputs.find((v) => v.name === value) ?? this.outputs.find((v) => v.name === value) ?? this.valueInfo.get(value);
  }

  /** Nodes in a topological order; the file order is kept where it is already valid. Throws on a cycle. */
  topoSort(): Node[] {
    const nodes = this.nodes;
    const indeg = new Map<Node, number>();
    for (const n of nodes) {
      let d = 0;
      for (const inp of new Set(n.inputs)) if (inp !== '' && this.producers.has(inp)) d++;
      indeg.set(n, d);
    }
    const order: Node[] = [];
    // A min-heap by original position would be exact; a queue scanned in file order is enough and linear.
    const position = new Map(nodes.map((n, i) => [n, i]));
    let ready = nodes.filter((n) => indeg.get(n) === 0);
    while (ready.length) {
      const next: Node[] = [];
      for (const n of ready) {
        order.push(n);
        for (const out of n.outputs) {
          for (const c of this.consumerMap.get(out) ?? []) {
            const d = indeg.get(c)! - 1;
            indeg.set(c, d);
            if (d === 0) next.push(c);
          }
        }
      }
      ready = next.sort((a, b) => position.get(a)! - position.get(b)!);
    }
    if (order.length !== nodes.length) {
      const stuck = nodes.filter((n) => !order.includes(n)).map((n) => n.name);
      throw new InternalError(`graph has a cycle through ${stuck.slice(0, 5).join(', ')}`);
    }
    return order;
  }

  /** Reorder the node table topologically (saving writes nodes in table order). */
  sortNodes(): void {
    const order = this.topoSort();
    this.nodeMap.clear();
    for (const n of order) this.nodeMap.set(n.name, n);
  }

  /**
   * Invariants: acyclic, one producer per value, every input defined, graph outputs produced.
   * `signature` (from `signatureOf` before a pass) additionally checks the I/O signature is unchanged.
   */
  check(signature?: string): void {
    const seen = new Map<string, string>();
    for (const n of this.nodeMap.values()) {
      for (const out of n.outputs) {
        if (out === '') continue;
        const prev = seen.get(out);
        if (prev) throw new InternalError(`value ${out} has two producers: ${prev} and ${n.name}`);
        seen.set(out, n.name);
        if (this.initializers.has(out)) throw new InternalError(`value ${out} is both an initializer and the output of ${n.name}`);
      }
    }
    const defined = (v: string) => v === '' || seen.has(v) || this.initializers.has(v) || this.isGraphInput(v);
    for (const n of this.nodeMap.values()) {
      for (const inp of n.inputs) if (!defined(inp)) throw new InternalError(`node ${n.name} (${n.opType}) reads ${inp}, which nothing defines`);
    }
    for (const o of this.outputs) if (!defined(o.name)) throw new InternalError(`graph output ${o.name} is not produced`);
    this.topoSort();
    if (signature !== undefined && signature !== this.signature()) {
      throw new InternalError(`graph I/O signature changed: was ${signature}, now ${this.signature()}`);
    }
  }

  /** Names, element types and shapes of the graph inputs and outputs, as one comparable string. */
  signature(): string {
    const fmt = (v: ValueInfo) => `${v.name}:${v.elemType}[${(v.shape ?? []).join(',')}]`;
    return `(${this.inputs.map(fmt).join(' ')}) -> (${this.outputs.map(fmt).join(' ')})`;
  }

  private consumerSet(value: string): Set<Node> {
    let s = this.consumerMap.get(value);
    if (!s) this.consumerMap.set(value, (s = new Set()));
    return s;
  }
}

export function attrInt(n: Node, name: string, dflt: number): number {
  const a = n.attrs[name];
  return a?.kind === 'int' ? a.value : dflt;
}

export function attrFloat(n: Node, name: string, dflt: number): number {
  const a = n.attrs[name];
  return a?.kind === 'float' ? a.value : a?.kind === 'int' ? a.value : dflt;
}

export function attrInts(n: Node, name: string, dflt: number[]): number[] {
  const a = n.attrs[name];
  return a?.kind === 'ints' ? a.value : dflt;
}

export function attrString(n: Node, name: string, dflt: string): string {
  const a = n.attrs[name];
  return a?.kind === 'string' ? a.value : dflt;
}
