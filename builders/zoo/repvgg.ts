/**
 * Train-time RepVGG models with seeded random weights, shaped like a PyTorch 1.13 `torch.onnx.export` of
 * the official code (node and tensor names, node order, head and SE forms as observed in
 * test/fixtures/repvgg/README.md), for tests, benchmarks and the demo.
 *
 * Two flavours, the same function for the same seed:
 * - BN kept (default; `training=PRESERVE`, no constant folding): every branch Conv has no bias and feeds a
 *   BatchNormalization; initializers carry state-dict names (`stage1.0.rbr_dense.conv.weight`).
 * - BN folded (`bnFolded`; the default eval export): 3x3 and 1x1 convs with the BN folded in, anonymous
 *   `onnx::Conv_<n>` weights; only the identity BatchNormalization remains, listed before the convs.
 * Equal tensors are shared through Identity nodes (the exporter's deduplication): every third block's
 * 1x1 branch reuses the 3x3 branch's BN parameters. Small constants are Constant nodes.
 *
 * Weights keep activations at a steady scale through any depth: conv weights have variance 1/fan_in and
 * each branch's BN scale gamma/sqrt(var+eps) is about sqrt(BLOCK_GAIN/branches).
 * BN statistics are non-trivial: var log-uniform in [1e-4, 4], epsilon one of 1e-5..1e-2 per BN, so
 * ignoring epsilon changes the result; 15% of gammas are negative.
 */
import { RebakeError } from '../../core/errors.js';
import type { AttrValue, NodeSpec } from '../ir/graph.js';
import { createModel, type Model } from '../ir/model.js';
import { DataType, makeTensor } from '../../core/tensor.js';
import { ARCHS, blocksOf, type BlockSpec, type RepvggArch } from './archs.js';

export interface ZooOptions {
  seed?: number;
  /** Input dims ['batch_size', 3, S, S] and a Shape/Gather/Unsqueeze/Concat/Reshape flatten. */
  dynamicBatch?: boolean;
  /** The eval-export flavour (BN folded into the branch convs, identity BN kept). */
  bnFolded?: boolean;
  /** Input height and width S, a multiple of 32 (default 224). */
  inputSize?: number;
  /** 11 or 13 (default). */
  opset?: number;
}

export const ZOO_OPSETS = [11, 13];
const EPSILONS = [1e-5, 1e-4, 1e-3, 1e-2];
/**
 * Energy gain of a block before its ReLU (which halves it). 2 would preserve the activation scale
 * exactly; slightly less keeps the random network from amplifying float32 rounding with depth (at 2, with
 * an SE gain of 1.25, D2se's deploy and train-time outputs drifted 2e-4 apart relative, 20x the test
 * tolerance); the BN shifts keep activations alive.
 */
const BLOCK_GAIN = 1.8;
/** The SE gate averages about 0.85 with the up-conv biases below; its branches are scaled up to match. */
const SE_GAIN = 1.15;
/** Blocks whose index is 2 mod this share their 1x1 BN parameters with their 3x3 BN (deduplicated). */
const SHARE_EVERY = 3;

/** Seeded: mulberry32 for single draws, xorshift32 (seeded from it) to fill weight tensors fast. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** n values uniform in [-a, a). */
  symmetric(n: number, a: number): Float32Array {
    const out = new Float32Array(n);
    let x = Math.floor(this.next() * 4294967295) | 1;
    const k = a / 2147483648;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x * k;
    }
    return out;
  }
}

interface Bn {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  eps: number;
}

interface Branch {
  /** [C, Cin/g, k, k] without bias; absent for the identity branch. */
  weight?: Float32Array;
  kernel: number;
  bn: Bn;
  /** Set when this branch reuses the 3x3 branch's BN tensors (deduplicated by the exporter). */
  sharesBnOf?: 'dense';
}

function randomBn(rng: Rng, c: number, gain: number): Bn {
  const eps = Math.fround(EPSILONS[Math.floor(rng.next() * EPSILONS.length)]);
  const bn: Bn = { gamma: new Float32Array(c), beta: new Float32Array(c), mean: new Float32Array(c), variance: new Float32Array(c), eps };
  for (let i = 0; i < c; i++) {
    const v = Math.exp(rng.uniform(Math.log(1e-4), Math.log(4)));
    const scale = gain * rng.uniform(0.7, 1.3) * (rng.next() < 0.15 ? -1 : 1);
    bn.variance[i] = v;
    bn.gamma[i] = scale * Math.sqrt(v + eps);
    bn.mean[i] = rng.uniform(-0.15, 0.15);
    bn.beta[i] = rng.uniform(-0.1, 0.1);
  }
  return bn;
}

function convWeight(rng: Rng, out: number, inPerGroup: number, k: number): Float32Array {
  return rng.symmetric(out * inPerGroup * k * k, Math.sqrt(3 / (inPerGroup * k * k)));
}

/** BN folded into the conv before it, as the exporter's constant folding does (float64 math). */
function foldBn(w: Float32Array, bn: Bn): { weight: Float32Array; bias: Float32Array } {
  const c = bn.gamma.length;
  const per = w.length / c;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(c);
  for (let o = 0; o < c; o++) {
    const s = bn.gamma[o] / Math.sqrt(bn.variance[o] + bn.eps);
    for (let i = o * per; i < (o + 1) * per; i++) weight[i] = w[i] * s;
    bias[o] = bn.beta[o] - bn.mean[o] * s;
  }
  return { weight, bias };
}

const f = (value: number): AttrValue => ({ kind: 'float', value });

/** Collects nodes with exporter-style names; Identity (dedup) nodes go first, as the exporter lists them. */
class ExportWriter {
  readonly model: Model;
  private readonly nodes: NodeSpec[] = [];
  private readonly identities: NodeSpec[] = [];
  private readonly taken = new Map<string, number>();
  private anon = 100;

  constructor(opset: number) {
    this.model = createModel(opset, 'rebake zoo');
    this.model.irVersion = opset >= 13 ? 7 : 6;
  }

  op(scope: string, opType: string, inputs: string[], attrs: NodeSpec['attrs'] = {}, output?: string): string {
    const base = `${scope}/${opType}`;
    const k = this.taken.get(base) ?? 0;
    this.taken.set(base, k + 1);
    const name = k ? `${base}_${k}` : base;
    const out = output ?? `${name}_output_0`;
    this.nodes.push({ name, opType, inputs, outputs: [out], attrs });
    return out;
  }

  constant(scope: string, dims: number[], values: number[]): string {
    return this.op(scope, 'Constant', [], { value: { kind: 'tensor', value: makeTensor('', DataType.INT64, dims, values) } });
  }

  param(name: string, dims: number[], data: Float32Array): string {
    this.model.graph.setInitializer(makeTensor(name, DataType.FLOAT, dims, data));
    return name;
  }

  anonParam(dims: number[], data: Float32Array): string {
    this.anon += 1;
    return this.param(`onnx::Conv_${this.anon++}`, dims, data);
  }

  /** `alias` reads the same tensor as `source` through an Identity node. */
  share(source: string, alias: string): string {
    this.identities.push({ name: `Identity_${this.identities.length}`, opType: 'Identity', inputs: [source], outputs: [alias] });
    return alias;
  }

  anonAlias(source: string): string {
    this.anon += 1;
    return this.share(source, `onnx::Conv_${this.anon++}`);
  }

  finish(): Model {
    for (const spec of [...this.identities, ...this.nodes]) this.model.graph.addNode(spec);
    return this.model;
  }
}

function convAttrs(k: number, stride: number, groups: number): NodeSpec['attrs'] {
  const p = (k - 1) / 2;
  return { dilations: [1, 1], group: groups, kernel_shape: [k, k], pads: [p, p, p, p], strides: [stride, stride] };
}

interface BlockParams {
  identity?: Branch;
  dense: Branch;
  oneByOne: Branch;
  se?: { down: Float32Array; downBias: Float32Array; up: Float32Array; upBias: Float32Array; hidden: number };
}

/** Draw a block's parameters in a fixed order, independent of the flavour. */
function blockParams(rng: Rng, b: BlockSpec, index: number): BlockParams {
  const c = b.outChannels;
  const inPerGroup = b.inChannels / b.groups;
  const gain = Math.sqrt(BLOCK_GAIN / (b.identity ? 3 : 2)) * (b.se ? SE_GAIN : 1);
  const identity = b.identity ? { kernel: 3, bn: randomBn(rng, c, gain) } : undefined;
  const dense: Branch = { weight: convWeight(rng, c, inPerGroup, 3), kernel: 3, bn: randomBn(rng, c, gain) };
  const shared = index % SHARE_EVERY === SHARE_EVERY - 1;
  const oneWeight = convWeight(rng, c, inPerGroup, 1);
  const oneByOne: Branch = shared ? { weight: oneWeight, kernel: 1, bn: dense.bn, sharesBnOf: 'dense' } : { weight: oneWeight, kernel: 1, bn: randomBn(rng, c, gain) };
  let se: BlockParams['se'];
  if (b.se) {
    const hidden = Math.max(1, Math.floor(c / 16));
    se = {
      hidden,
      down: rng.symmetric(hidden * c, Math.sqrt(3 / c)),
      downBias: rng.symmetric(hidden, 0.1),
      up: rng.symmetric(c * hidden, 0.5 * Math.sqrt(3 / hidden)),
      upBias: Float32Array.from({ length: c }, () => rng.uniform(1, 2)),
    };
  }
  return { identity, dense, oneByOne, se };
}

function emitBn(w: ExportWriter, scope: string, prefix: string, x: string, bn: Bn, sharedFrom?: string): string {
  const names = ['weight', 'bias', 'running_mean', 'running_var'];
  const data = [bn.gamma, bn.beta, bn.mean, bn.variance];
  const inputs = names.map((n, i) => (sharedFrom ? w.share(`${sharedFrom}.${n}`, `${prefix}.${n}`) : w.param(`${prefix}.${n}`, [bn.gamma.length], data[i])));
  return w.op(scope, 'BatchNormalization', [x, ...inputs], { epsilon: f(bn.eps), momentum: f(0.9) });
}

function emitBlock(w: ExportWriter, b: BlockSpec, p: BlockParams, x: string, folded: boolean): string {
  const { scope, prefix } = b;
  const c = b.outChannels;
  const inPerGroup = b.inChannels / b.groups;
  const idOut = p.identity && emitBn(w, `${scope}/rbr_identity`, `${prefix}.rbr_identity`, x, p.identity.bn);
  let denseBias = '';
  const branch = (name: 'rbr_dense' | 'rbr_1x1', br: Branch): string => {
    const dims = [c, inPerGroup, br.kernel, br.kernel];
    const attrs = convAttrs(br.kernel, b.stride, b.groups);
    if (folded) {
      const { weight, bias } = foldBn(br.weight!, br.bn);
      const wName = w.anonParam(dims, weight);
      const bName = br.sharesBnOf ? w.anonAlias(denseBias) : w.anonParam([c], bias);
      if (name === 'rbr_dense') denseBias = bName;
      return w.op(`${scope}/${name}/conv`, 'Conv', [x, wName, bName], attrs);
    }
    const conv = w.op(`${scope}/${name}/conv`, 'Conv', [x, w.param(`${prefix}.${name}.conv.weight`, dims, br.weight!)], attrs);
    return emitBn(w, `${scope}/${name}/bn`, `${prefix}.${name}.bn`, conv, br.bn, br.sharesBnOf && `${prefix}.rbr_dense.bn`);
  };
  let sum = w.op(scope, 'Add', [branch('rbr_dense', p.dense), branch('rbr_1x1', p.oneByOne)]);
  if (idOut) sum = w.op(scope, 'Add', [sum, idOut]);
  if (p.se) sum = emitSe(w, b, p.se, sum);
  return w.op(`${scope}/nonlinearity`, 'Relu', [sum]);
}

/** The official SEBlock as exported: avg_pool2d(kernel = feature size) -> Pad + AveragePool. */
function emitSe(w: ExportWriter, b: BlockSpec, se: NonNullable<BlockParams['se']>, x: string): string {
  const s = `${b.scope}/se`;
  const c = b.outChannels;
  const size = [b.outSize, b.outSize];
  const padded = w.op(s, 'Pad', [x, w.constant(s, [8], [0, 0, 0, 0, 0, 0, 0, 0])], { mode: 'constant' });
  const pooled = w.op(s, 'AveragePool', [padded], { ceil_mode: 0, kernel_shape: size, pads: [0, 0, 0, 0], strides: size });
  const down = w.op(`${s}/down`, 'Conv', [pooled, w.param(`${b.prefix}.se.down.weight`, [se.hidden, c, 1, 1], se.down), w.param(`${b.prefix}.se.down.bias`, [se.hidden], se.downBias)], convAttrs(1, 1, 1));
  const relu = w.op(s, 'Relu', [down]);
  const up = w.op(`${s}/up`, 'Conv', [relu, w.param(`${b.prefix}.se.up.weight`, [c, se.hidden, 1, 1], se.up), w.param(`${b.prefix}.se.up.bias`, [c], se.upBias)], convAttrs(1, 1, 1));
  const gate = w.op(s, 'Reshape', [w.op(s, 'Sigmoid', [up]), w.constant(s, [4], [-1, c, 1, 1])]);
  return w.op(s, 'Mul', [x, gate]);
}

/** out.view(out.size(0), -1) as the exporter writes it for each flavour, batch mode and opset. */
function emitFlatten(w: ExportWriter, x: string, opts: Required<ZooOptions>): string {
  const unsqueeze = (v: string) => (opts.opset >= 13 ? w.op('', 'Unsqueeze', [v, w.constant('', [1], [0])]) : w.op('', 'Unsqueeze', [v], { axes: [0] }));
  let shape: string;
  if (opts.dynamicBatch) {
    const batch = unsqueeze(w.op('', 'Gather', [w.op('', 'Shape', [x]), w.constant('', [], [0])], { axis: 0 }));
    const rest = opts.bnFolded ? w.constant('', [1], [-1]) : unsqueeze(w.constant('', [], [-1]));
    shape = w.op('', 'Concat', [batch, rest], { axis: 0 });
  } else if (opts.bnFolded) {
    shape = w.constant('', [2], [1, -1]);
  } else {
    shape = w.op('', 'Concat', [unsqueeze(w.constant('', [], [1])), unsqueeze(w.constant('', [], [-1]))], { axis: 0 });
  }
  return w.op('', 'Reshape', [x, shape]);
}

export function zooArch(name: string): RepvggArch {
  const a = ARCHS[name] ?? Object.values(ARCHS).find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!a) throw new RebakeError('ZOO_ARCH', `unknown architecture "${name}"; expected one of: ${Object.keys(ARCHS).join(', ')}`, { file: 'command line' });
  return a;
}

export function repvggModel(arch: RepvggArch | string, options: ZooOptions = {}): Model {
  const a = typeof arch === 'string' ? zooArch(arch) : arch;
  const opts: Required<ZooOptions> = { seed: 0, dynamicBatch: false, bnFolded: false, inputSize: 224, opset: 13, ...options };
  if (!Number.isInteger(opts.inputSize) || opts.inputSize < 32 || opts.inputSize % 32 !== 0) {
    throw new RebakeError('ZOO_SIZE', `--size must be a positive multiple of 32, got ${opts.inputSize}`, { file: 'command line' });
  }
  if (!ZOO_OPSETS.includes(opts.opset)) {
    throw new RebakeError('ZOO_OPSET', `--opset must be one of ${ZOO_OPSETS.join(', ')}, got ${opts.opset}`, { file: 'command line' });
  }
  const rng = new Rng(opts.seed);
  const w = new ExportWriter(opts.opset);
  const g = w.model.graph;
  const batch = opts.dynamicBatch ? 'batch_size' : 1;
  g.inputs = [{ name: 'input', elemType: DataType.FLOAT, shape: [batch, 3, opts.inputSize, opts.inputSize] }];
  g.outputs = [{ name: 'output', elemType: DataType.FLOAT, shape: [batch, a.numClasses] }];

  let x = 'input';
  const blocks = blocksOf(a, opts.inputSize);
  blocks.forEach((b, i) => {
    x = emitBlock(w, b, blockParams(rng, b, i), x, opts.bnFolded);
  });
  const c = blocks[blocks.length - 1].outChannels;
  const flat = emitFlatten(w, w.op('/gap', 'GlobalAveragePool', [x]), opts);
  const fc = w.param('linear.weight', [a.numClasses, c], rng.symmetric(a.numClasses * c, Math.sqrt(3 / c)));
  const fcBias = w.param('linear.bias', [a.numClasses], rng.symmetric(a.numClasses, 0.1));
  w.op('/linear', 'Gemm', [flat, fc, fcBias], { alpha: f(1), beta: f(1), transB: 1 }, 'output');
  return w.finish();
}
