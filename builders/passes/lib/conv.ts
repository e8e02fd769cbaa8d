/**
 * Shared by the re-parameterization passes (fuse-bn-into-conv, convert-identity-bn-to-conv,
 * merge-conv-branches): a BatchNormalization read as a per-channel affine map, a Conv's geometry and
 * constant weights, sum trees of Add nodes, and kernel embedding.
 *
 * Weights are rewritten in place when the model owns them exclusively (an initializer read by one node):
 * a 450 MB model must not be copied while it is re-parameterized. Callers that keep the bytes a model was
 * decoded from (zero-copy views) must pass a copy if they still need the original weights.
 */
import { attrFloat, attrInt, attrInts, attrString, type Graph, type Node } from '../../ir/graph.js';
import { DataType, dataTypeName, toFloat32, type Tensor } from '../../../core/tensor.js';

/** ONNX's default BatchNormalization epsilon, used when the attribute is absent. */
export const DEFAULT_BN_EPSILON = 1e-5;

/** y[c] = x[c] * scale[c] + shift[c]: an inference-mode BatchNormalization, in float64. */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

function floatConstant(g: Graph, value: string, what: string): Float32Array | string {
  const t = g.constant(value);
  if (!t) return `${what} ${value || '(absent)'} is not a constant`;
  if (t.dataType !== DataType.FLOAT && t.dataType !== DataType.FLOAT16 && t.dataType !== DataType.DOUBLE) {
    return `${what} ${value} is ${dataTypeName(t.dataType)}, not float`;
  }
  return toFloat32(t);
}

/**
 * The affine map of an inference-mode BatchNormalization, or why it is not one:
 * scale = gamma / sqrt(var + epsilon), shift = beta - mean * scale.
 */
export function bnAffine(g: Graph, bn: Node): ChannelAffine | string {
  if (attrInt(bn, 'training_mode', 0) !== 0) return 'training_mode=1 (batch statistics)';
  if (attrInt(bn, 'spatial', 1) !== 1) return 'spatial=0 (per-activation statistics)';
  for (const extra of bn.outputs.slice(1)) {
    if (extra !== '' && g.useCount(extra) > 0) return `its running-statistics output ${extra} is used`;
  }
  const parts = (['scale', 'B', 'mean', 'var'] as const).map((what, i) => floatConstant(g, bn.inputs[i + 1] ?? '', what));
  const bad = parts.find((p): p is string => typeof p === 'string');
  if (bad) return bad;
  const [gamma, beta, mean, variance] = parts as Float32Array[];
  const c = gamma.length;
  if (beta.length !== c || mean.length !== c || variance.length !== c) {
    return `scale/B/mean/var have ${gamma.length}/${beta.length}/${mean.length}/${variance.length} values`;
  }
  // The attribute is a float32 in the file; ORT adds it to var in float32 too.
  const eps = Math.fround(attrFloat(bn, 'epsilon', DEFAULT_BN_EPSILON));
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = gamma[i] / Math.sqrt(variance[i] + eps);
    shift[i] = beta[i] - mean[i] * scale[i];
  }
  return { scale, shift };
}

export interface ConvInfo {
  node: Node;
  /** The data input. */
  x: string;
  weightName: string;
  /** [M, C/group, k...], float32. */
  weight: Tensor;
  biasName?: string;
  bias?: Float32Array;
  outChannels: number;
  inPerGroup: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  group: number;
}

/** A Conv with constant float32 weights (and bias) and explicit padding, or why not. */
export function convInfo(g: Graph, n: Node): ConvInfo | string {
  if (n.opType !== 'Conv' || n.domain !== '') return `${n.opType} is not a Conv`;
  const weightName = n.inputs[1];
  const weight = g.constant(weightName);
  if (!weight) return `its weight ${weightName} is not a constant`;
  if (weight.dataType !== DataType.FLOAT) return `its weight ${weightName} is ${dataTypeName(weight.dataType)}, not float32`;
  if (weight.dims.length < 3) return `its weight ${weightName} has rank ${weight.dims.length}`;
  const [outChannels, inPerGroup, ...kernel] = weight.dims;
  const sp = kernel.length;
  const ks = attrInts(n, 'kernel_shape', kernel);
  if (ks.join() !== kernel.join()) return `kernel_shape [${ks}] disagrees with weight dims [${weight.dims}]`;
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return `auto_pad=${autoPad} (padding depends on the input size)`;
  const pads = autoPad === 'VALID' ? new Array(2 * sp).fill(0) : attrInts(n, 'pads', new Array(2 * sp).fill(0));
  const strides = attrInts(n, 'strides', new Array(sp).fill(1));
  const dilations = attrInts(n, 'dilations', new Array(sp).fill(1));
  if (pads.length !== 2 * sp || strides.length !== sp || dilations.length !== sp) return 'pads/strides/dilations do not match the kernel rank';
  let bias: Float32Array | undefined;
  const biasName = n.inputs[2] || undefined;
  if (biasName) {
    const b = floatConstant(g, biasName, 'its bias');
    if (typeof b === 'string') return b;
    if (b.length !== outChannels) return `its bias ${biasName} has ${b.length} values for ${outChannels} output channels`;
    bias = b;
  }
  return {
    node: n, x: n.inputs[0], weightName, weight, biasName, bias, outChannels, inPerGroup, kernel, strides, dilations,
    padsBegin: pads.slice(0, sp), padsEnd: pads.slice(sp), group: attrInt(n, 'group', 1),
  };
}

/**
 * Nonzero positions of the identity kernels convert-identity-bn-to-conv makes (one tap per output channel
 * in a kernel of C * C/g * 9 floats), so merging one into its siblings does not read, and page in, tens of
 * megabytes of zeros. An entry is dropped when its kernel is handed out for writing (ownedWeight).
 */
const sparseTaps = new WeakMap<object, Int32Array>();

/** [C, C/group, size...] with kernel[o, o mod (C/group), centre] = scale[o], zero elsewhere. */
export function identityKernel(scale: Float64Array, group: number, spatialRank: number, size: number): Float32Array {
  const c = scale.length;
  const cg = c / group;
  const vol = size ** spatialRank;
  const centre = (vol - 1) / 2;
  const w = new Float32Array(c * cg * vol);
  const taps = new Int32Array(c);
  for (let o = 0; o < c; o++) {
    taps[o] = (o * cg + (o % cg)) * vol + centre;
    w[taps[o]] = scale[o];
  }
  sparseTaps.set(w, taps);
  return w;
}

/** The conv's weight data when this node alone reads that initializer, so it may be overwritten in place. */
export function ownedWeight(g: Graph, c: ConvInfo): Float32Array | undefined {
  const init = g.initializers.get(c.weightName);
  const owned = init !== undefined && init.data instanceof Float32Array && !g.isGraphInput(c.weightName) && g.useCount(c.weightName) === 1;
  if (!owned) return undefined;
  sparseTaps.delete(init.data as Float32Array);
  return init.data as Float32Array;
}

/** Point a conv at new weight data, as a new initializer. */
export function replaceConvWeight(g: Graph, conv: Node, dims: number[], data: Float32Array): void {
  const name = g.addInitializer(`${conv.name}.weight`, DataType.FLOAT, dims, data);
  g.setInput(conv, 1, null, name);
}

/** Give a conv a new bias initializer (biases are small: always a fresh tensor, never shared). */
export function setConvBias(g: Graph, conv: Node, bias: Float32Array): void {
  const name = g.addInitializer(`${conv.name}.bias`, DataType.FLOAT, [bias.length], bias);
  g.setInput(conv, 2, null, name);
}

/**
 * The dilation per spatial dim of convs to be merged around `ref`: a dim where a kernel has size 1 reads the
 * same pixel whatever its dilation, so only the kernels wider than 1 decide (and must agree: dilationsAgree).
 */
export function mergedDilations(ref: ConvInfo, convs: ConvInfo[]): number[] {
  return ref.kernel.map((k, d) => (k > 1 ? ref.dilations[d] : convs.find((c) => c.kernel[d] > 1)?.dilations[d] ?? 1));
}

export function dilationsAgree(c: ConvInfo, dilations: number[]): boolean {
  return c.kernel.every((k, d) => k === 1 || c.dilations[d] === dilations[d]);
}

/** Add and Sum nodes (without the pre-opset-7 broadcast attributes) are sums whose terms may be regrouped. */
export function isSum(n: Node | undefined): n is Node {
  return !!n && n.domain === '' && (n.opType === 'Add' || n.opType === 'Sum') && n.attrs.axis === undefined && n.attrs.broadcast === undefined;
}

/** The sum that reads `v` when `v` is an inner term of a larger sum: read once, by a sum, not a graph output. */
function parentSum(g: Graph, v: string): Node | undefined {
  if (g.useCount(v) !== 1) return undefined;
  const [c] = g.consumers(v);
  return isSum(c) ? c : undefined;
}

/** The outermost sum containing sum node n. */
export function sumRoot(g: Graph, n: Node): Node {
  let r = n;
  for (let p = parentSum(g, r.outputs[0]); p; p = parentSum(g, r.outputs[0])) r = p;
  return r;
}

export function isSumRoot(g: Graph, n: Node): boolean {
  return isSum(n) && !parentSum(g, n.outputs[0]);
}

/**
 * Flatten a tree of sums: `sums` are its nodes (root first), `terms` the values it adds, in input order.
 * Addition with broadcasting is associative and commutative, so the terms may be regrouped freely.
 */
export function sumTerms(g: Graph, root: Node): { sums: Node[]; terms: string[] } {
  const sums: Node[] = [];
  const terms: string[] = [];
  const visit = (n: Node) => {
    sums.push(n);
    for (const v of n.inputs) {
      const p = g.producer(v);
      if (isSum(p) && parentSum(g, v) === n) visit(p);
      else terms.push(v);
    }
  };
  visit(root);
  return { sums, terms };
}

/**
 * acc[o, i, K...] += w[o, i, k...] with w's spatial origin placed at `offset` inside acc's kernel.
 * Both are [M, C/group, spatial...] row-major with the same M and C/group.
 */
export function addKernelInto(acc: Float32Array | Float64Array, accKernel: number[], w: Float32Array | Float64Array, wKernel: number[], offset: number[]): void {
  const accVol = accKernel.reduce((a, b) => a * b, 1);
  const wVol = wKernel.reduce((a, b) => a * b, 1);
  const planes = w.length / wVol;
  if (planes * accVol !== acc.length) throw new Error(`addKernelInto: ${w.length} weights do not fit ${acc.length}`);
  if (wVol === accVol) {
    const taps = sparseTaps.get(w);
    if (taps) for (const i of taps) acc[i] += w[i];
    else for (let i = 0; i < acc.length; i++) acc[i] += w[i];
    return;
  }
  // Where each spatial tap of w lands inside one acc plane.
  const target = new Int32Array(wVol);
  for (let p = 0; p < wVol; p++) {
    let rest = p;
    let t = 0;
    let stride = 1;
    for (let d = wKernel.length - 1; d >= 0; d--) {
      const coord = rest % wKernel[d];
      rest = Math.floor(rest / wKernel[d]);
      t += (coord + offset[d]) * stride;
      stride *= accKernel[d];
    }
    target[p] = t;
  }
  if (wVol === 1) {
    // 1x1 into KxK (RepVGG's 1x1 branch): one tap per plane.
    for (let plane = 0, a = target[0]; plane < planes; plane++, a += accVol) acc[a] += w[plane];
    return;
  }
  for (let plane = 0; plane < planes; plane++) {
    const a = plane * accVol;
    const b = plane * wVol;
    for (let p = 0; p < wVol; p++) acc[a + target[p]] += w[b + p];
  }
}


/**
 * A float constant that broadcasts one value per channel (axis 1) over a rank-`rank` value with m channels:
 * dims [], [1], [m,1,1], [1,m,1,1], ... Its values (length 1 or m), or undefined.
 */
export function channelConstant(g: Graph, value: string, rank: number, m: number): Float32Array | undefined {
  const t = g.constant(value);
  const float = t && (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16 || t.dataType === DataType.DOUBLE);
  const data = float ? g.constantFloats(value) : undefined;
  if (!t || !data || t.dims.length > rank) return undefined;
  const dims = [...new Array(rank - t.dims.length).fill(1), ...t.dims];
  if (dims.some((d, i) => d !== 1 && !(i === 1 && d === m))) return undefined;
  return data;
}
