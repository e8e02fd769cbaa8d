/**
 * QDQ insertion: the int8 graph onnxruntime turns into integer kernels, kept apart from calibration (which
 * only supplies a float range per tensor). Like onnxruntime's quantization tool: a per-op registry says which
 * inputs of an op are activations, which is the weight (and its channel axis) and which the bias; every op
 * not in the registry passes through in float, reading dequantized values.
 *
 * Before: x -> Conv(W, b) -> c -> Relu -> r -> Conv ...
 * After:  x -> Q -> DQ -> Conv(DQ(W_q, s_w, axis 0), DQ(b_q, s_x*s_w)) -> c -> Q(s_r, zp = qmin) -> DQ -> r -> ...
 *   (the Relu is gone: quantizing with the zero point at the type's minimum clamps at 0, which is what the
 *   Relu did; onnxruntime then fuses DQ -> Conv -> Q into one QLinearConv)
 * Conditions: per op, see REGISTRY; weights must be constant; a node named in `keepFloat` stays float.
 * The math (activation type T with range [qmin, qmax], asymmetric; weights int8 symmetric in [-127, 127]):
 *   rmin = min(0, min), rmax = max(0, max), s = (rmax - rmin) / (qmax - qmin), zp = round(qmin - rmin / s);
 *   s_w[c] = max|W[c]| / 127, W_q = round(W / s_w[c]); b_q = round(b / (s_x * s_w[c])) as int32.
 *   Rounding is half to even, as QuantizeLinear does; every scale is a float32.
 */
import { InternalError, RebakeError } from '../../core/errors.js';
import { DataType, elementCount, toFloat32 } from '../../core/tensor.js';
import { attrFloat, attrInt, type Graph, type Node } from '../ir/graph.js';
import { opsetVersion, type Model } from '../ir/model.js';
import { roundHalfEven } from '../preprocess/tables.js';

export type ActivationType = 'uint8' | 'int8';

/** Float range of one tensor over the calibration set (after the calibrate_mode's clipping). */
export interface TensorRange {
  min: number;
  max: number;
}

export interface QdqOptions {
  perChannel: boolean;
  activation: ActivationType;
  /** Node names to leave in float (the accuracy loop's choice). */
  keepFloat?: ReadonlySet<string>;
}

/** Where an op's inputs go when it is quantized. */
interface OpRole {
  /** Input positions that are activations (quantized with calibrated ranges). */
  activations: number[];
  weight: number;
  /** The weight's output-channel axis (per-channel scales run along it). */
  axis: number;
  bias?: number;
  /** Whether the output is quantized too (Conv: so ORT fuses a QLinearConv); false keeps float logits. */
  quantizeOutput: boolean;
}

type RoleOf = (g: Graph, n: Node) => OpRole | string;

function constantRank(g: Graph, value: string, rank: number, what: string): string | undefined {
  const t = g.constant(value);
  if (!t || g.isGraphInput(value)) return `its ${what} ${value} is not a constant`;
  if (t.dataType !== DataType.FLOAT) return `its ${what} ${value} is not float32`;
  if (t.dims.length !== rank) return `its ${what} ${value} has rank ${t.dims.length}, expected ${rank}`;
  return undefined;
}

/** The registry: op type -> how to quantize it, or why this node cannot be. */
const REGISTRY: Record<string, RoleOf> = {
  Conv(g, n) {
    const w = g.constant(n.inputs[1]);
    const why = constantRank(g, n.inputs[1], w?.dims.length ?? 0, 'weight') ?? (w && w.dims.length < 3 ? 'its weight has rank < 3' : undefined);
    if (why) return why;
    if (n.inputs[2] && constantRank(g, n.inputs[2], 1, 'bias')) return constantRank(g, n.inputs[2], 1, 'bias')!;
    return { activations: [0], weight: 1, axis: 0, bias: n.inputs[2] ? 2 : undefined, quantizeOutput: true };
  },
  Gemm(g, n) {
    if (attrInt(n, 'transA', 0) !== 0) return 'transA=1';
    if (attrFloat(n, 'alpha', 1) !== 1 || (n.inputs[2] && attrFloat(n, 'beta', 1) !== 1)) return 'alpha or beta is not 1';
    const why = constantRank(g, n.inputs[1], 2, 'weight');
    if (why) return why;
    const outFeatures = g.constant(n.inputs[1])!.dims[attrInt(n, 'transB', 0) ? 0 : 1];
    if (n.inputs[2]) {
      const c = g.constant(n.inputs[2]);
      if (constantRank(g, n.inputs[2], 1, 'bias') || c!.dims[0] !== outFeatures) return `its bias ${n.inputs[2]} is not a constant vector of ${outFeatures}`;
    }
    return { activations: [0], weight: 1, axis: attrInt(n, 'transB', 0) ? 0 : 1, bias: n.inputs[2] ? 2 : undefined, quantizeOutput: false };
  },
  MatMul(g, n) {
    const why = constantRank(g, n.inputs[1], 2, 'weight');
    if (why) return why;
    return { activations: [0], weight: 1, axis: 1, quantizeOutput: false };
  },
};

/** One node to quantize, and the tensor its output quantization is calibrated on. */
export interface NodePlan {
  node: string;
  role: OpRole;
  /** The Relu folded into the output quantization (its output is the calibrated tensor). */
  foldedRelu?: string;
}

export interface QuantPlan {
  nodes: NodePlan[];
  /** Nodes of registry ops left in float, with the reason. */
  float: { node: string; op: string; why: string }[];
  /** Tensors that need a calibrated range, in graph order. */
  tensors: string[];
}

/** Nodes the registry could quantize, in graph order (the accuracy loop ranks these). */
export function quantizableNodes(g: Graph): string[] {
  return g.topoSort().filter((n) => n.domain === '' && REGISTRY[n.opType] && typeof REGISTRY[n.opType](g, n) !== 'string').map((n) => n.name);
}

/** A Relu that alone reads a quantized Conv's output can be folded into its output quantization. */
function foldableRelu(g: Graph, n: Node): Node | undefined {
  const readers = g.consumers(n.outputs[0]);
  if (readers.length !== 1 || g.isGraphOutput(n.outputs[0])) return undefined;
  const r = readers[0];
  return r.opType === 'Relu' && r.domain === '' && !g.isGraphOutput(r.outputs[0]) ? r : undefined;
}

export function planQuantization(model: Model, opts: QdqOptions): QuantPlan {
  const g = model.graph;
  const plan: QuantPlan = { nodes: [], float: [], tensors: [] };
  const tensors = new Set<string>();
  for (const n of g.topoSort()) {
    const roleOf = n.domain === '' ? REGISTRY[n.opType] : undefined;
    if (!roleOf) continue;
    const role = roleOf(g, n);
    if (typeof role === 'string') {
      plan.float.push({ node: n.name, op: n.opType, why: role });
      continue;
    }
    if (opts.keepFloat?.has(n.name)) continue;
    for (const i of role.activations) tensors.add(n.inputs[i]);
    const relu = role.quantizeOutput ? foldableRelu(g, n) : undefined;
    if (role.quantizeOutput) tensors.add(relu ? relu.outputs[0] : n.outputs[0]);
    plan.nodes.push({ node: n.name, role, foldedRelu: relu?.name });
  }
  if (plan.nodes.length && opsetVersion(model) < (opts.perChannel ? 13 : 10)) {
    throw new RebakeError('QUANTIZE_OPSET', `int8 needs opset ${opts.perChannel ? '13 (per-channel DequantizeLinear)' : '10'}; the model has opset ${opsetVersion(model)}${opts.perChannel ? ' (set quantize_per_channel: false, or export with opset 13)' : ''}`);
  }
  const order = new Map<string, number>();
  g.inputs.forEach((v, i) => order.set(v.name, -1 - i));
  g.topoSort().forEach((n, i) => n.outputs.forEach((o) => order.set(o, i)));
  plan.tensors = [...tensors].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0) || (a < b ? -1 : 1));
  return plan;
}

/** Scale and zero point of one quantized activation tensor, as the manifest records them. */
export interface TensorQuantization extends TensorRange {
  scale: number;
  zero_point: number;
}

export interface QdqResult {
  tensors: Record<string, TensorQuantization>;
  /** Quantized node -> weight scale(s): one per output channel, or one. */
  weights: Record<string, number[]>;
  changes: string[];
}

const QRANGE: Record<ActivationType, [number, number]> = { uint8: [0, 255], int8: [-128, 127] };

/** Asymmetric scale and zero point for [min, max] (widened to contain 0, so that 0 is exact). */
export function activationParams(range: TensorRange, type: ActivationType): { scale: number; zero_point: number } {
  const [qmin, qmax] = QRANGE[type];
  const rmin = Math.min(0, range.min);
  const rmax = Math.max(0, range.max);
  if (!(Number.isFinite(rmin) && Number.isFinite(rmax))) throw new InternalError(`non-finite range [${range.min}, ${range.max}]`);
  // All zeros: any scale represents it; the zero point at qmin keeps a folded Relu's clamp.
  if (rmax === rmin) return { scale: 1, zero_point: qmin };
  const scale = Math.fround((rmax - rmin) / (qmax - qmin));
  const zero_point = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - rmin / scale)));
  return { scale, zero_point };
}

/** Symmetric int8 weight scales: one per slice along `axis`, or one for the whole tensor. */
export function weightScales(w: Float32Array, dims: number[], axis: number, perChannel: boolean): Float32Array {
  const channels = perChannel ? dims[axis] : 1;
  const inner = perChannel ? elementCount(dims.slice(axis + 1)) : w.length;
  const peak = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) {
    const c = perChannel ? Math.floor(i / inner) % channels : 0;
    peak[c] = Math.max(peak[c], Math.abs(w[i]));
  }
  return Float32Array.from(peak, (p) => (p > 0 ? p / 127 : 1));
}

function quantizeWeight(w: Float32Array, dims: number[], axis: number, scales: Float32Array): Int8Array {
  const inner = elementCount(dims.slice(axis + 1));
  const out = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const s = scales.length === 1 ? scales[0] : scales[Math.floor(i / inner) % scales.length];
    out[i] = Math.max(-127, Math.min(127, roundHalfEven(w[i] / s)));
  }
  return out;
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Rewrite `model` per `plan` with the calibrated `ranges` (one per plan.tensors entry). Deterministic: the same
 * model, plan and ranges give the same graph, names and bytes.
 */
export function insertQdq(model: Model, plan: QuantPlan, ranges: ReadonlyMap<string, TensorRange>, opts: QdqOptions): QdqResult {
  const g = model.graph;
  const result: QdqResult = { tensors: {}, weights: {}, changes: [] };
  const actType = opts.activation === 'uint8' ? DataType.UINT8 : DataType.INT8;
  /** value a quantized node reads -> the calibrated tensor behind it */
  const calibratedOf = new Map<string, string>();
  const folded = new Map(plan.nodes.filter((p) => p.foldedRelu).map((p) => [g.node(p.foldedRelu!)!.outputs[0], p.foldedRelu!]));

  for (const t of plan.tensors) {
    const range = ranges.get(t);
    if (!range) throw new InternalError(`no calibrated range for ${t}`);
    const q = activationParams(range, opts.activation);
    result.tensors[t] = { min: range.min, max: range.max, ...q };
    const scale = g.addInitializer(`${t}_scale`, DataType.FLOAT, [], [q.scale]);
    const zp = g.addInitializer(`${t}_zero_point`, actType, [], [q.zero_point]);
    const quantized = g.uniqueName(`${t}_quantized`);
    const reluName = folded.get(t);
    if (reluName) {
      // Q reads the Conv's output and DQ takes over the Relu's output name: every reader stays as it was.
      const relu = g.node(reluName)!;
      g.removeNode(relu);
      g.addNode({ name: g.uniqueName(`${t}_QuantizeLinear`), opType: 'QuantizeLinear', inputs: [relu.inputs[0], scale, zp], outputs: [quantized] });
      g.addNode({ name: g.uniqueName(`${t}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [quantized, scale, zp], outputs: [t] });
      calibratedOf.set(t, t);
      continue;
    }
    const out = g.uniqueName(`${t}_dequantized`);
    const readers = g.consumers(t);
    g.addNode({ name: g.uniqueName(`${t}_QuantizeLinear`), opType: 'QuantizeLinear', inputs: [t, scale, zp], outputs: [quantized] });
    g.addNode({ name: g.uniqueName(`${t}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [quantized, scale, zp], outputs: [out] });
    for (const n of readers) g.setInput(n, null, t, out);
    calibratedOf.set(out, t);
  }

  for (const p of plan.nodes) {
    const n = g.node(p.node)!;
    const { role } = p;
    const input = n.inputs[role.activations[0]];
    const inScale = result.tensors[calibratedOf.get(input) ?? '']?.scale;
    if (inScale === undefined) throw new InternalError(`input ${input} of ${n.name} was not quantized`);
    const wName = n.inputs[role.weight];
    const wTensor = g.constant(wName)!;
    const w = toFloat32(wTensor);
    const scales = weightScales(w, wTensor.dims, role.axis, opts.perChannel);
    result.weights[n.name] = [...scales];
    const channelAxis: Record<string, number> = opts.perChannel ? { axis: role.axis } : {};
    const scaleDims = opts.perChannel ? [scales.length] : [];
    const wq = g.addInitializer(`${wName}_quantized`, DataType.INT8, wTensor.dims, quantizeWeight(w, wTensor.dims, role.axis, scales));
    const ws = g.addInitializer(`${wName}_scale`, DataType.FLOAT, scaleDims, scales);
    const wz = g.addInitializer(`${wName}_zero_point`, DataType.INT8, scaleDims, new Int8Array(scales.length));
    const wdq = g.uniqueName(`${wName}_dequantized`);
    g.addNode({ name: g.uniqueName(`${wName}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [wq, ws, wz], outputs: [wdq], attrs: channelAxis });
    g.setInput(n, role.weight, null, wdq);
    let note = '';
    if (role.bias !== undefined) {
      const bName = n.inputs[role.bias];
      const b = toFloat32(g.constant(bName)!);
      const channels = b.length;
      const bScale = Float32Array.from({ length: channels }, (_, c) => Math.fround(inScale * scales[scales.length === 1 ? 0 : c]));
      const bq = Int32Array.from(b, (v, c) => Math.max(-INT32_MAX, Math.min(INT32_MAX, roundHalfEven(v / bScale[c]))));
      const bqName = g.addInitializer(`${bName}_quantized`, DataType.INT32, [channels], bq);
      const bsName = g.addInitializer(`${bName}_scale`, DataType.FLOAT, [channels], bScale);
      const bzName = g.addInitializer(`${bName}_zero_point`, DataType.INT32, [channels], new Int32Array(channels));
      const bdq = g.uniqueName(`${bName}_dequantized`);
      g.addNode({ name: g.uniqueName(`${bName}_DequantizeLinear`), opType: 'DequantizeLinear', inputs: [bqName, bsName, bzName], outputs: [bdq], attrs: { axis: 0 } });
      g.setInput(n, role.bias, null, bdq);
      note = ', bias int32';
    }
    result.changes.push(`${n.opType} ${n.name}: weight int8 ${opts.perChannel ? `per channel (${scales.length})` : 'per tensor'}${note}${p.foldedRelu ? `, Relu ${p.foldedRelu} folded into its output quantization` : ''}`);
  }
  for (const [name] of [...g.initializers]) if (g.useCount(name) === 0 && !g.isGraphInput(name)) g.removeInitializer(name);
  g.sortNodes();
  return result;
}
