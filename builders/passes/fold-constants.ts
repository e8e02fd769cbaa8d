/**
 * fold-constants: make constants plain initializers and fold the shape arithmetic exporters emit.
 *
 * 1. Constant node -> initializer of the same name (tensor, value_float(s), value_int(s) forms).
 * 2. Identity of a constant (the PyTorch exporter shares deduplicated weights that way) -> its readers
 *    read the constant itself.
 * 3. Integer shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Identity over constants)
 *    is evaluated symbolically: each element is a number or "dim i of tensor v". A result whose elements
 *    are all numbers replaces its readers' input with a constant. A Reshape's shape input also folds when
 *    its unknown elements are "dim i of the Reshape's own data" at position i: those become 0, which
 *    Reshape (allowzero=0) reads as "copy dim i of the data", so
 *    Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> Reshape(x, [0, -1]) for any batch size.
 * Values that are graph outputs are left alone. The nodes left without readers are removed by
 * remove-dead-nodes.
 */
import { attrInt, attrInts, type Graph, type Node } from '../ir/graph.js';
import { inferShapes, type Shape } from '../ir/shapes.js';
import { DataType, toNumbers } from '../../core/tensor.js';

import { flatGraphPass, type Pass, type PassReport } from './pass.js';

/** One element of an integer shape vector: known, or dim `axis` of tensor `of`. */
type Sym = number | { of: string; axis: number };

/** A rank-0/1 integer value: its elements, or all dims of `of` from `start` on when the rank is unknown. */
type SymVec =
  | { kind: 'items'; items: Sym[]; scalar: boolean; dataType: DataType }
  | { kind: 'dimsOf'; of: string; start: number };

const INT_TYPES = new Set([DataType.INT64, DataType.INT32]);
const SHAPE_OPS = new Set(['Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'Identity']);

function constantsToInitializers(g: Graph): number {
  let n = 0;
  for (const node of g.nodes) {
    if (node.opType !== 'Constant' || node.domain !== '') continue;
    const out = node.outputs[0];
    const t = g.constant(out);
    if (!t || g.isGraphOutput(out)) continue;
    g.removeNode(node);
    g.setInitializer({ ...t, name: out });
    n++;
  }
  return n;
}

function bypassConstantIdentities(g: Graph): number {
  let n = 0;
  for (const node of g.topoSort()) {
    if (node.opType !== 'Identity' || node.domain !== '') continue;
    const [src] = node.inputs;
    const out = node.outputs[0];
    if (!g.initializers.has(src) || g.isGraphInput(src) || g.isGraphOutput(out)) continue;
    g.replaceAllUses(out, src);
    g.removeNode(node);
    n++;
  }
  return n;
}

class ShapeEvaluator {
  private memo = new Map<string, SymVec | null>();
  constructor(
    private readonly g: Graph,
    private readonly shapes: Map<string, Shape>,
  ) {}

  eval(v: string): SymVec | undefined {
    if (!this.memo.has(v)) this.memo.set(v, this.compute(v) ?? null);
    return this.memo.get(v) ?? undefined;
  }

  private items(v: string): Extract<SymVec, { kind: 'items' }> | undefined {
    const s = this.eval(v);
    return s?.kind === 'items' ? s : undefined;
  }

  private compute(v: string): SymVec | undefined {
    const g = this.g;
    const t = g.constant(v);
    if (t) {
      if (!INT_TYPES.has(t.dataType) || t.dims.length > 1) return undefined;
      return { kind: 'items', items: toNumbers(t), scalar: t.dims.length === 0, dataType: t.dataType };
    }
    const n = g.producer(v);
    if (!n || n.domain !== '' || !SHAPE_OPS.has(n.opType)) return undefined;
    switch (n.opType) {
      case 'Shape': return this.shape(n);
      case 'Identity': return this.eval(n.inputs[0]);
      case 'Cast': {
        const to = attrInt(n, 'to', 0);
        const x = this.items(n.inputs[0]);
        return x && INT_TYPES.has(to) ? { ...x, dataType: to } : undefined;
      }
      case 'Gather': return this.gather(n);
      case 'Unsqueeze': {
        const x = this.items(n.inputs[0]);
        const axes = n.inputs[1] ? g.constantInts(n.inputs[1]) : attrInts(n, 'axes', []);
        return x?.scalar && axes?.length === 1 && (axes[0] === 0 || axes[0] === -1) ? { ...x, scalar: false } : undefined;
      }
      case 'Squeeze': {
        const x = this.items(n.inputs[0]);
        return x && !x.scalar && x.items.length === 1 ? { ...x, scalar: true } : undefined;
      }
      case 'Concat': {
        if (attrInt(n, 'axis', 0) !== 0 && attrInt(n, 'axis', 0) !== -1) return undefined;
        const parts = n.inputs.map((i) => this.items(i));
        if (parts.some((p) => !p || p.scalar)) return undefined;
        const ps = parts as Extract<SymVec, { kind: 'items' }>[];
        return { kind: 'items', items: ps.flatMap((p) => p.items), scalar: false, dataType: ps[0].dataType };
      }
    }
    return undefined;
  }

  private shape(n: Node): SymVec | undefined {
    const of = n.inputs[0];
    const start = attrInt(n, 'start', 0);
    const dims = this.shapes.get(of);
    if (!dims) return start >= 0 && n.attrs.end === undefined ? { kind: 'dimsOf', of, start } : undefined;
    const rank = dims.length;
    const norm = (i: number) => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
    const [s, e] = [norm(start), norm(attrInt(n, 'end', rank))];
    const items: Sym[] = [];
    for (let i = s; i < e; i++) {
      const d = dims[i];
      items.push(typeof d === 'number' && d >= 0 ? d : { of, axis: i });
    }
    return { kind: 'items', items, scalar: false, dataType: DataType.INT64 };
  }

  private gather(n: Node): SymVec | undefined {
    if (attrInt(n, 'axis', 0) !== 0) return undefined;
    const data = this.eval(n.inputs[0]);
    const idx = this.g.constant(n.inputs[1]);
    if (!data || !idx || idx.dims.length > 1) return undefined;
    const indices = toNumbers(idx);
    const items: Sym[] = [];
    for (const i of indices) {
      if (data.kind === 'dimsOf') {
        if (i < 0) return undefined;
        items.push({ of: data.of, axis: data.start + i });
      } else {
        const j = i < 0 ? i + data.items.length : i;
        if (j < 0 || j >= data.items.length) return undefined;
        items.push(data.items[j]);
      }
    }
    const dataType = data.kind === 'items' ? data.dataType : DataType.INT64;
    return { kind: 'items', items, scalar: idx.dims.length === 0, dataType };
  }
}

/** Replace shape-arithmetic inputs of the other nodes with constants where their value is static. */
function foldShapeArithmetic(g: Graph, report: PassReport): void {
  const ev = new ShapeEvaluator(g, inferShapes(g));
  for (const n of g.topoSort()) {
    // Shape ops themselves are folded through their readers; once nothing reads them they are dead.
    if (n.domain === '' && SHAPE_OPS.has(n.opType)) continue;
    n.inputs.forEach((v, i) => {
      const p = g.producer(v);
      if (!p || p.domain !== '' || !SHAPE_OPS.has(p.opType)) return;
      const vec = ev.eval(v);
      if (vec?.kind !== 'items') return;
      // Reshape's 0 (allowzero=0) copies the data's dim at the same position.
      const reshapeShape = n.opType === 'Reshape' && n.domain === '' && i === 1 && attrInt(n, 'allowzero', 0) === 0;
      const values = vec.items.map((s, k) => (typeof s === 'number' ? s : reshapeShape && s.of === n.inputs[0] && s.axis === k ? 0 : undefined));
      if (values.some((x) => x === undefined)) {
        if (reshapeShape) report.skipped.push(`Reshape ${n.name}: its shape depends on dims of tensors other than its input`);
        return;
      }
      const c = g.addInitializer(`${v}.folded`, vec.dataType, vec.scalar ? [] : [values.length], values as number[]);
      g.setInput(n, i, null, c);
      report.changes.push(`${n.opType} ${n.name}: input ${i} computed by ${p.opType} ${p.name} folded to [${values}]`);
    });
  }
}

export const foldConstants: Pass = flatGraphPass({
  name: 'fold-constants',
  rewrite(g, report) {
    const constants = constantsToInitializers(g);
    if (constants) report.changes.push(`${constants} Constant node(s) -> initializers`);
    const identities = bypassConstantIdentities(g);
    if (identities) report.changes.push(`${identities} Identity node(s) of constants bypassed (readers share the constant)`);
    foldShapeArithmetic(g, report);
  },
});
