/**
 * make-batch-dynamic: turn a static batch of 1 into a symbolic batch `N`, when every op provably treats the
 * batch items independently.
 *
 * Before: input [1,3,H,W] -> Conv -> ... -> GlobalAveragePool -> Reshape(shape [1,-1]) -> Gemm -> output [1,K]
 * After:  input [N,3,H,W] -> Conv -> ... -> GlobalAveragePool -> Reshape(shape [0,-1]) -> Gemm -> output [N,K]
 *         (value_info of batch-carrying values gets dim 0 = N too)
 * Conditions: every graph input is [1, ...] with a numeric 1 (a symbolic or -1 dim 0 is "already dynamic").
 *   A value "carries the batch" when it is computed from a graph input; every such value must hold the batch
 *   items stacked on axis 0, one per row (checked against the static shapes: dim 0 is 1). Nodes reading no
 *   batch-carrying value compute the same tensors at every batch size and are accepted as they are. A node
 *   reading one must be in the allow-list below, read the batch only where the list says, and its attributes
 *   and constant inputs must leave axis 0 alone. Anything else skips the whole pass (nothing changes) with one
 *   line per refused node (what is computed from a refused node is not judged again).
 * Math (y[n] = f(x[n]) for every batch item n, i.e. f commutes with stacking items on axis 0):
 *   - Conv, ConvTranspose, pools, global pools, inference BatchNormalization, elementwise unary ops (Relu,
 *     Sigmoid, Clip, LeakyRelu, HardSigmoid, HardSwish, Tanh, Identity, Cast, inference Dropout): per item by
 *     definition, weights shared. MaxPool's Indices output is not: ONNX flattens the index over the whole
 *     tensor, batch offset included.
 *   - Add/Sub/Mul/Div: batch-carrying operands have the same rank (so their axes 0 align); a batch-free operand
 *     of lower rank aligns right of axis 0, one of equal rank must have dim 0 = 1, so it broadcasts the same
 *     values to every item. A higher rank would push the batch off axis 0.
 *   - Gemm (transA=0) and MatMul (A rank >= 2, B rank 2): row n of A gives row n of Y. C broadcasts to [1,K].
 *   - Reshape: row-major, so item n is the n-th contiguous block of prod(dims[1:]) values. A target whose
 *     element 0 is 0 (copy dim 0) keeps one item per row; a literal 1 is that at batch 1 and becomes 0; -1 at
 *     0 is the batch only when the other elements hold exactly prod(input dims[1:]) (the static shapes say).
 *   - Flatten: [prod(d[0:axis]), prod(d[axis:])], one item per row when axis >= 1 and d[1:axis] are all 1.
 *   - Softmax/LogSoftmax: normalize along an axis != 0 (before opset 13, over the axes from `axis` on: the
 *     items stay in separate rows when axis >= 1).
 *   - Concat (axis != 0, every input batch-carrying), Slice, Pad, Squeeze, Unsqueeze, Transpose, Resize,
 *     ReduceMean/Max/Sum: act on the axes they name; allowed when axis 0 is not among them (Pad: 0 pads on
 *     axis 0; Resize: scale 1 on axis 0, no `sizes`; Transpose: perm[0] = 0).
 *   Shape (and anything not listed) can expose N to the arithmetic and is rejected.
 */
import { attrInt, attrInts, attrString, BATCH_DIM, type Graph, type Node, type ValueInfo } from '../ir/graph.js';
import { opsetVersion, type Model } from '../ir/model.js';
import { inferShapes, type Shape } from '../ir/shapes.js';
import type { Pass, PassReport } from './pass.js';


type Why = string | undefined;

/** The analysis of one graph: static shapes, which values carry the batch, and the Reshapes to rewrite. */
class Prover {
  readonly batch = new Set<string>();
  readonly rewrites: { node: Node; target: number[] }[] = [];
  readonly shapes: Map<string, Shape>;

  constructor(
    readonly g: Graph,
    readonly opset: number,
  ) {
    this.shapes = inferShapes(g);
    for (const i of g.inputs) this.batch.add(i.name);
  }

  carries(v: string): boolean {
    return v !== '' && this.batch.has(v);
  }

  shape(v: string): Shape | undefined {
    return this.shapes.get(v);
  }

  rank(v: string): number | undefined {
    return this.shapes.get(v)?.length;
  }

  ints(v: string): number[] | undefined {
    return v ? this.g.constantInts(v) : undefined;
  }

  /** Axes from input `index` (when the opset moved them there and it is present) or else the `axes` attribute. */
  axes(n: Node, index: number, inputFrom: number): number[] | 'absent' | 'non-constant' {
    if (this.opset >= inputFrom) {
      const v = n.inputs[index];
      if (!v) return 'absent';
      return this.ints(v) ?? 'non-constant';
    }
    return n.attrs.axes ? attrInts(n, 'axes', []) : 'absent';
  }
}

interface OpRule {
  /** Inputs that may carry the batch; all others (weights, shapes, scalars) must not. */
  data: 'all' | number[];
  /** Why this node is not batch-independent, or undefined when it is. `x` is its first batch-carrying input. */
  check?(n: Node, p: Prover, x: string): Why;
}

const PER_ITEM: OpRule = { data: [0] };

/** `axis` counted from 0 (negative ones from `rank`, the rank of `of`), or why we cannot tell. */
function normAxis(axis: number, rank: number | undefined, of: string): number | string {
  if (axis >= 0) return axis;
  return rank === undefined ? `rank of ${of} unknown (negative axis ${axis})` : axis + rank;
}

function noBatchAxis(axes: number[], rank: number | undefined, of: string, what: string): Why {
  for (const a of axes) {
    const axis = normAxis(a, rank, of);
    if (typeof axis === 'string') return axis;
    if (axis === 0) return `${what} [${axes.join(', ')}] include the batch axis 0`;
  }
  return undefined;
}

const elementwise: OpRule = {
  data: 'all',
  check(n, p) {
    const carried = n.inputs.filter((v) => p.carries(v));
    const ranks = carried.map((v) => p.rank(v));
    if (ranks.some((r) => r === undefined)) return `rank of ${carried[ranks.indexOf(undefined)]} unknown`;
    const r = ranks[0]!;
    if (ranks.some((q) => q !== r)) return `batch-carrying inputs of ranks ${ranks.join(', ')} would broadcast their batch axes against other axes`;
    for (const v of n.inputs) {
      if (p.carries(v)) continue;
      const s = p.shape(v);
      if (!s) return `shape of ${v} unknown`;
      if (s.length > r) return `${v} [${s.join(', ')}] has a higher rank than the data (${r}): the batch would leave axis 0`;
      if (s.length === r && s[0] !== 1) return `${v} [${s.join(', ')}] has dim 0 = ${s[0]}: it would broadcast against the batch`;
    }
    return undefined;
  },
};

function softmax(n: Node, p: Prover, x: string): Why {
  const axis = normAxis(attrInt(n, 'axis', p.opset >= 13 ? -1 : 1), p.rank(x), x);
  if (typeof axis === 'string') return axis;
  return axis === 0 ? `normalizes over the batch axis 0` : undefined;
}

function reshape(n: Node, p: Prover, x: string): Why {
  if (attrInt(n, 'allowzero', 0) !== 0) return 'allowzero=1: a 0 cannot mean "copy the batch dim"';
  const target = p.ints(n.inputs[1]);
  if (!target) return `shape ${n.inputs[1]} is not a constant`;
  const shown = `[${target.join(', ')}]`;
  if (target.length === 0) return 'reshapes to a scalar';
  if (target[0] === 0) return undefined;
  if (target[0] === 1) {
    p.rewrites.push({ node: n, target: [0, ...target.slice(1)] });
    return undefined;
  }
  if (target[0] !== -1) return `shape ${shown} fixes the batch axis to ${target[0]}`;
  if (target.lastIndexOf(-1) > 0) return `shape ${shown} has more than one -1`;
  const s = p.shape(x);
  if (!s || !s.every((d) => typeof d === 'number' && d >= 0)) return `shape ${shown} infers axis 0, and the static shape of ${x} is unknown`;
  const dims = s as number[];
  if (target.slice(1).some((d, i) => d === 0 && i + 1 >= dims.length)) return `shape ${shown} copies a dim ${x} does not have`;
  const rest = target.slice(1).reduce((a, d, i) => a * (d === 0 ? dims[i + 1] : d), 1);
  const item = dims.slice(1).reduce((a, d) => a * d, 1);
  return rest === item ? undefined : `shape ${shown} on [${dims.join(', ')}] puts ${item / rest} rows per batch item on axis 0`;
}

const RULES: Record<string, OpRule> = {
  Conv: PER_ITEM,
  ConvTranspose: {
    data: [0],
    check(n, p, x) {
      const outShape = attrInts(n, 'output_shape', []);
      const r = p.rank(x);
      if (!outShape.length) return undefined;
      return r !== undefined && outShape.length === r - 2 ? undefined : `output_shape [${outShape.join(', ')}] may fix the batch dim`;
    },
  },
  BatchNormalization: {
    data: [0],
    check: (n) => (n.outputs.filter((o) => o !== '').length > 1 || attrInt(n, 'training_mode', 0) !== 0 ? 'training mode: batch statistics mix the items' : undefined),
  },
  Relu: PER_ITEM,
  Sigmoid: PER_ITEM,
  Clip: PER_ITEM,
  LeakyRelu: PER_ITEM,
  HardSigmoid: PER_ITEM,
  HardSwish: PER_ITEM,
  Tanh: PER_ITEM,
  Identity: PER_ITEM,
  Cast: PER_ITEM,
  Dropout: {
    data: [0],
    check(n, p) {
      const training = n.inputs[2];
      if (!training) return undefined;
      const t = p.ints(training);
      return t?.length === 1 && t[0] === 0 ? undefined : 'training mode is on or not a constant (random masks are not per item)';
    },
  },
  Add: elementwise,
  Sub: elementwise,
  Mul: elementwise,
  Div: elementwise,
  MaxPool: {
    data: [0],
    check: (n) => (n.outputs[1] ? 'its Indices output counts positions across the whole tensor, batch offset included' : undefined),
  },
  AveragePool: PER_ITEM,
  GlobalAveragePool: PER_ITEM,
  GlobalMaxPool: PER_ITEM,
  Pad: {
    data: [0],
    check(n, p, x) {
      let pads: number[] | undefined;
      let axes: number[] | undefined;
      if (p.opset >= 11) {
        pads = p.ints(n.inputs[1]);
        if (!pads) return `pads ${n.inputs[1]} are not a constant`;
        if (n.inputs[3]) {
          axes = p.ints(n.inputs[3]);
          if (!axes) return `axes ${n.inputs[3]} are not a constant`;
        }
      } else pads = attrInts(n, 'pads', []);
      const k = pads.length / 2;
      const list = axes ?? [...Array(k).keys()];
      for (let i = 0; i < k; i++) {
        const a = normAxis(list[i], p.rank(x), x);
        if (typeof a === 'string') return a;
        if (a === 0 && (pads[i] !== 0 || pads[i + k] !== 0)) return `pads the batch axis (${pads[i]}, ${pads[i + k]})`;
      }
      return undefined;
    },
  },
  Flatten: {
    data: [0],
    check(n, p, x) {
      const axis = normAxis(attrInt(n, 'axis', 1), p.rank(x), x);
      if (typeof axis === 'string') return axis;
      if (axis === 0) return 'axis 0 flattens the batch into the rows';
      if (axis === 1) return undefined;
      const s = p.shape(x);
      if (!s) return `axis ${axis} and the static shape of ${x} is unknown`;
      const merged = s.slice(1, axis);
      return merged.every((d) => d === 1) ? undefined : `axis ${axis} merges dims [${merged.join(', ')}] into the batch rows`;
    },
  },
  Reshape: { data: [0], check: reshape },
  Gemm: { data: [0], check: (n) => (attrInt(n, 'transA', 0) !== 0 ? 'transA=1 contracts over the batch axis' : undefined) },
  MatMul: {
    data: [0],
    check(n, p, x) {
      const [ra, b] = [p.rank(x), p.shape(n.inputs[1])];
      if (ra === undefined || ra < 2) return `A ${x} has rank ${ra ?? 'unknown'}; a rank-1 A would contract the batch`;
      return b?.length === 2 ? undefined : `B ${n.inputs[1]} has rank ${b?.length ?? 'unknown'}, not 2 (its batch dims would broadcast against ours)`;
    },
  },
  Softmax: { data: [0], check: softmax },
  LogSoftmax: { data: [0], check: softmax },
  Concat: {
    data: 'all',
    check(n, p, x) {
      const other = n.inputs.find((v) => !p.carries(v));
      if (other !== undefined) return `${other} does not carry the batch: it cannot be concatenated to N items`;
      const axis = normAxis(attrInt(n, 'axis', 0), p.rank(x), x);
      if (typeof axis === 'string') return axis;
      return axis === 0 ? 'concatenates along the batch axis 0' : undefined;
    },
  },
  Slice: {
    data: [0],
    check(n, p, x) {
      let axes = p.axes(n, 3, 10);
      if (axes === 'non-constant') return `axes ${n.inputs[3]} are not a constant`;
      if (axes === 'absent') {
        const starts = p.opset >= 10 ? p.ints(n.inputs[1]) : attrInts(n, 'starts', []);
        if (!starts) return `starts ${n.inputs[1]} are not a constant (cannot tell which axes are sliced)`;
        axes = [...starts.keys()];
      }
      return noBatchAxis(axes, p.rank(x), x, 'sliced axes');
    },
  },
  Transpose: {
    data: [0],
    check(n, p, x) {
      const r = p.rank(x);
      const perm = n.attrs.perm ? attrInts(n, 'perm', []) : r === undefined ? undefined : [...Array(r).keys()].reverse();
      if (!perm) return `no perm and the rank of ${x} is unknown`;
      return perm[0] === 0 ? undefined : `perm [${perm.join(', ')}] moves the batch axis`;
    },
  },
  Squeeze: {
    data: [0],
    check(n, p, x) {
      const axes = p.axes(n, 1, 13);
      if (axes === 'non-constant') return `axes ${n.inputs[1]} are not a constant`;
      if (axes === 'absent') return 'no axes: it would squeeze the batch axis of size 1';
      return noBatchAxis(axes, p.rank(x), x, 'axes');
    },
  },
  Unsqueeze: {
    data: [0],
    check(n, p, x) {
      const axes = p.axes(n, 1, 13);
      if (axes === 'non-constant') return `axes ${n.inputs[1]} are not a constant`;
      if (axes === 'absent') return 'no axes';
      const r = p.rank(x);
      return noBatchAxis(axes, r === undefined ? undefined : r + axes.length, x, 'axes');
    },
  },
  Resize: {
    data: [0],
    check(n, p, x) {
      if (attrString(n, 'coordinate_transformation_mode', '') === 'tf_crop_and_resize') return 'tf_crop_and_resize reads a region of interest on every axis';
      const [scalesAt, sizesAt] = p.opset >= 11 ? [2, 3] : [1, -1];
      if (sizesAt > 0 && n.inputs[sizesAt]) return 'sizes input: it fixes the output batch dim';
      const scales = n.inputs[scalesAt] ? p.g.constantFloats(n.inputs[scalesAt]) : undefined;
      if (!scales?.length) return `scales ${n.inputs[scalesAt] || '(absent)'} are not a constant`;
      const axes = n.attrs.axes ? attrInts(n, 'axes', []) : [...scales.keys()];
      for (let i = 0; i < axes.length; i++) {
        const a = normAxis(axes[i], p.rank(x), x);
        if (typeof a === 'string') return a;
        if (a === 0 && scales[i] !== 1) return `scales the batch axis by ${scales[i]}`;
      }
      return undefined;
    },
  },
  ReduceMean: { data: [0], check: (n, p, x) => reduce(n, p, x, 18) },
  ReduceMax: { data: [0], check: (n, p, x) => reduce(n, p, x, 18) },
  ReduceSum: { data: [0], check: (n, p, x) => reduce(n, p, x, 13) },
  Shape: { data: [0], check: () => 'Shape op reads the batch dimension' },
};

function reduce(n: Node, p: Prover, x: string, axesInputFrom: number): Why {
  const axes = p.axes(n, 1, axesInputFrom);
  if (axes === 'non-constant') return `axes ${n.inputs[1]} are not a constant`;
  if (axes === 'absent' || axes.length === 0) {
    return attrInt(n, 'noop_with_empty_axes', 0) === 1 ? undefined : 'no axes: it reduces every axis, the batch included';
  }
  return noBatchAxis(axes, p.rank(x), x, 'reduced axes');
}

/** Why node n is not batch-independent (undefined: it is, and its outputs carry the batch). */
function checkNode(n: Node, p: Prover): Why {
  const rule = n.domain === '' ? RULES[n.opType] : undefined;
  if (!rule) return `op ${n.opType}${n.domain ? ` (domain ${n.domain})` : ''} is not known to be batch-independent`;
  const data = rule.data;
  const wrong = n.inputs.findIndex((v, i) => p.carries(v) && data !== 'all' && !data.includes(i));
  if (wrong >= 0) return `input ${wrong} (${n.inputs[wrong]}) carries the batch where a weight or parameter is expected`;
  const x = n.inputs.find((v) => p.carries(v))!;
  return rule.check?.(n, p, x);
}

/** Why an input cannot be given a symbolic batch, or undefined when it is [1, ...]. */
function checkInput(v: ValueInfo): Why {
  const s = v.shape;
  if (!s) return `input ${v.name}: shape unknown`;
  if (!s.length) return `input ${v.name}: a scalar has no batch axis`;
  if (typeof s[0] === 'string' || s[0] < 0) return `input ${v.name}: already dynamic (dim 0 is ${typeof s[0] === 'string' ? `"${s[0]}"` : 'unknown'})`;
  if (s[0] !== 1) return `input ${v.name}: static batch ${s[0]}; only batch 1 is made dynamic (constants may encode ${s[0]})`;
  return undefined;
}

const withBatch = (v: ValueInfo): ValueInfo => ({ ...v, shape: [BATCH_DIM, ...v.shape!.slice(1)] });
const fmt = (s: readonly (number | string)[] | undefined) => `[${(s ?? []).join(', ')}]`;

function run(model: Model): PassReport {
  const g = model.graph;
  const report: PassReport = { changes: [], skipped: [] };
  if (!g.inputs.length) return { changes: [], skipped: ['the graph has no inputs'] };
  const inputProblems = g.inputs.map(checkInput).filter((w): w is string => w !== undefined);
  if (inputProblems.length) return { changes: [], skipped: inputProblems };

  const p = new Prover(g, opsetVersion(model));
  const problems: string[] = [];
  // Values computed from a refused node: what reads them is not judged again (one line per root cause).
  const tainted = new Set<string>();
  for (const n of g.topoSort()) {
    if (n.inputs.some((v) => tainted.has(v))) {
      for (const o of n.outputs) tainted.add(o);
      continue;
    }
    if (!n.inputs.some((v) => p.carries(v))) continue;
    // The rules' own cross-check: a static shape seen here must have the batch item count (1) on axis 0.
    const off = n.outputs.find((o) => {
      const s = p.shape(o);
      return s && (s.length === 0 || (typeof s[0] === 'number' && s[0] >= 0 && s[0] !== 1));
    });
    const why = checkNode(n, p) ?? (off && `output ${off} has static shape ${fmt(p.shape(off))}, not the batch (1) on axis 0`);
    if (why) {
      problems.push(`${n.opType} ${n.name}: ${why}`);
      for (const o of n.outputs) tainted.add(o);
    } else for (const o of n.outputs) if (o !== '') p.batch.add(o);
  }
  if (problems.length) return { changes: [], skipped: problems.map((w) => `batch stays static: ${w}`) };

  for (const { node, target } of p.rewrites) {
    const old = node.inputs[1];
    const t = g.constant(old)!;
    g.setInput(node, 1, null, g.addInitializer(`${old}.batch`, t.dataType, t.dims, target));
    if (g.useCount(old) === 0) {
      if (g.initializers.has(old)) g.removeInitializer(old);
      else if (g.producer(old)) g.removeNode(g.producer(old)!);
    }
    report.changes.push(`Reshape ${node.name}: shape [1, ${target.slice(1).join(', ')}] -> [${target.join(', ')}] (0 copies the batch dim)`);
  }
  const retype = (kind: string) => (v: ValueInfo): ValueInfo => {
    const w = withBatch(v);
    report.changes.push(`${kind} ${v.name}: ${fmt(v.shape)} -> ${fmt(w.shape)}`);
    return w;
  };
  g.inputs = g.inputs.map(retype('input'));
  g.outputs = g.outputs.map((v) => {
    if (p.carries(v.name)) return v.shape?.length ? retype('output')(v) : v;
    report.skipped.push(`output ${v.name} does not depend on the inputs: its shape stays ${fmt(v.shape)}`);
    return v;
  });
  let infos = 0;
  for (const [name, v] of g.valueInfo) {
    if (!p.carries(name) || !v.shape?.length) continue;
    g.valueInfo.set(name, withBatch(v));
    infos++;
  }
  if (infos) report.changes.push(`${infos} value_info shape(s): dim 0 -> ${BATCH_DIM}`);
  return report;
}

export const makeBatchDynamic: Pass = {
  name: 'make-batch-dynamic',
  changesSignature: true,
  wanted: () => true,
  run,
};
