/**
 * Re-parameterization test helpers: run the re-param passes through the pass manager, as a build does,
 * compare outputs on onnxruntime (optimizations off) with the acceptance tolerance, build small train-time
 * graphs in code for edge cases, and an independent implementation of the official RepVGG convert script
 * (float64, from the BN-kept export's state-dict tensors) with switches that make its classic mistakes.
 */
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { attrFloat, type AttrValue, type Dim, type Graph } from '../../builders/ir/graph.js';
import { createModel, decodeModel, encodeModel, type Model } from '../../builders/ir/model.js';
import { DataType, makeTensor, toFloat32 } from '../../core/tensor.js';
import { PASSES } from '../../builders/passes/index.js';
import { runPasses, type PassRecord } from '../../builders/passes/manager.js';
import { passInputs } from './passes.js';
import { maxAbs, maxAbsDiff, runOrt, seededFloats } from './ort.js';

export const REPARAM_PASS_NAMES = ['fold-constants', 'eliminate-nop-ops', 'fuse-bn-into-conv', 'convert-identity-bn-to-conv', 'merge-conv-branches', 'remove-dead-nodes'];

/** The re-param passes as the table lists them (they must open it, in this order). */
function reparamPasses() {
  const passes = PASSES.slice(0, REPARAM_PASS_NAMES.length);
  expect(passes.map((p) => p.name)).toEqual(REPARAM_PASS_NAMES);
  return passes;
}

/** Run the named passes (default: all re-param passes) in table order; their records by name. */
export async function reparameterize(model: Model, only?: string[]): Promise<Record<string, PassRecord>> {
  const passes = reparamPasses().filter((p) => !only || only.includes(p.name));
  const records = await runPasses(model, passes, passInputs());
  return Object.fromEntries(records.map((r) => [r.name, r]));
}

/** Decode a private copy: passes overwrite weights in place, and decoded tensors may view the bytes. */
export function decodeCopy(bytes: Uint8Array): Model {
  return decodeModel(Uint8Array.from(bytes), 'test.onnx');
}

export function opCounts(m: Model): Record<string, number> {
  const ops: Record<string, number> = {};
  for (const n of m.graph.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  return ops;
}

/** The acceptance tolerance: max|Δ| <= 1e-5 * max|y| + 1e-6. */
export function tolerance(ref: ArrayLike<number>): number {
  return 1e-5 * maxAbs(ref) + 1e-6;
}

export async function firstOutput(model: Model | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const out = await runOrt(model, feeds);
  return Object.values(out)[0].data as Float32Array;
}

export interface Comparison {
  diff: number;
  tol: number;
  maxRef: number;
}

export function compare(y: Float32Array, ref: Float32Array): Comparison {
  return { diff: maxAbsDiff(y, ref), tol: tolerance(ref), maxRef: maxAbs(ref) };
}

/** Seeded normal-ish input (sum of uniforms), so activations are not all positive. */
export function inputTensor(dims: number[], seed: number): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const u = seededFloats(2 * n, seed);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (u[2 * i] + u[2 * i + 1]) * 1.2;
  return new ort.Tensor('float32', data, dims);
}

// ---------------------------------------------------------------------------------------------------------
// Small train-time graphs built in code.

export interface ConvOptions {
  out: number;
  k?: number | [number, number];
  stride?: number;
  pads?: number[];
  group?: number;
  dilation?: number;
  bias?: boolean;
  /** Read an existing weight (shared weights) instead of making one. */
  weight?: string;
}

export interface BnOptions {
  /** The epsilon attribute; null = absent (ONNX default 1e-5). */
  eps?: number | null;
}

/** A graph under construction with seeded random weights; values are referred to by name. */
export class TestGraph {
  readonly model: Model;
  readonly g: Graph;
  private seed = 100;
  private readonly channels = new Map<string, number>();

  constructor(inputDims: Dim[], opset = 13) {
    this.model = createModel(opset);
    this.g = this.model.graph;
    this.g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: inputDims }];
    this.channels.set('x', inputDims[1] as number);
  }

  random(n: number, scale: number): Float32Array {
    const v = seededFloats(n, this.seed++);
    for (let i = 0; i < n; i++) v[i] *= scale;
    return v;
  }

  conv(x: string, o: ConvOptions): string {
    const [kh, kw] = typeof o.k === 'number' || o.k === undefined ? [o.k ?? 3, o.k ?? 3] : o.k;
    const group = o.group ?? 1;
    const cin = this.channels.get(x)!;
    const d = o.dilation ?? 1;
    const pads = o.pads ?? [((kh - 1) / 2) * d, ((kw - 1) / 2) * d, ((kh - 1) / 2) * d, ((kw - 1) / 2) * d];
    const fan = (cin / group) * kh * kw;
    const w = o.weight ?? this.g.addInitializer('w', DataType.FLOAT, [o.out, cin / group, kh, kw], this.random(o.out * fan, Math.sqrt(3 / fan)));
    const inputs = [x, w];
    if (o.bias) inputs.push(this.g.addInitializer('b', DataType.FLOAT, [o.out], this.random(o.out, 0.2)));
    const y = this.g.uniqueName('conv');
    this.g.addNode({
      opType: 'Conv', inputs, outputs: [y],
      attrs: { kernel_shape: [kh, kw], strides: [o.stride ?? 1, o.stride ?? 1], pads, group, dilations: [d, d] },
    });
    this.channels.set(y, o.out);
    return y;
  }

  /** BatchNormalization with statistics where epsilon matters: some variances are far below 1e-2. */
  bn(x: string, o: BnOptions = {}): string {
    const c = this.channels.get(x)!;
    const u = this.random(4 * c, 1);
    const gamma = new Float32Array(c);
    const beta = new Float32Array(c);
    const mean = new Float32Array(c);
    const variance = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      variance[i] = 10 ** (-3.5 + 3 * (u[i] + 1) / 2);
      gamma[i] = (0.5 + 0.4 * u[c + i]) * Math.sqrt(variance[i] + 1e-3);
      beta[i] = 0.2 * u[2 * c + i];
      mean[i] = 0.3 * u[3 * c + i];
    }
    const p = (n: string, v: Float32Array) => this.g.addInitializer(n, DataType.FLOAT, [c], v);
    const y = this.g.uniqueName('bn');
    const attrs: Record<string, AttrValue> = o.eps === null ? {} : { epsilon: { kind: 'float', value: o.eps ?? 1e-3 } };
    this.g.addNode({ opType: 'BatchNormalization', inputs: [x, p('gamma', gamma), p('beta', beta), p('mean', mean), p('var', variance)], outputs: [y], attrs });
    this.channels.set(y, c);
    return y;
  }

  op(opType: string, inputs: string[], attrs: Record<string, number | number[] | string> = {}): string {
    const y = this.g.uniqueName(opType.toLowerCase());
    this.g.addNode({ opType, inputs, outputs: [y], attrs });
    this.channels.set(y, this.channels.get(inputs[0]) ?? 0);
    return y;
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  constant(dims: number[], values: number[], dataType = DataType.FLOAT): string {
    const y = this.g.uniqueName('const');
    this.g.addNode({ opType: 'Constant', inputs: [], outputs: [y], attrs: { value: { kind: 'tensor', value: makeTensor('', dataType, dims, values) } } });
    return y;
  }

  output(...values: string[]): Model {
    this.g.outputs = values.map((name) => ({ name, elemType: DataType.FLOAT }));
    return this.model;
  }

  bytes(): Uint8Array {
    return encodeModel(this.model);
  }
}

async function allOutputs(model: Model | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array[]> {
  return Object.values(await runOrt(model, feeds)).map((t) => t.data as Float32Array);
}

/**
 * Re-parameterize a private copy of a train-time graph (input `x`) and compare every output with the
 * train-time graph's; `cmp` is the output furthest from its tolerance.
 */
export async function buildAndCompare(train: Uint8Array, x: ort.Tensor): Promise<{ deploy: Model; reports: Record<string, PassRecord>; cmp: Comparison }> {
  const feeds = { x };
  const refs = await allOutputs(train, feeds);
  const deploy = decodeCopy(train);
  const reports = await reparameterize(deploy);
  const ys = await allOutputs(deploy, feeds);
  expect(ys).toHaveLength(refs.length);
  const cmps = ys.map((y, i) => compare(y, refs[i]));
  const cmp = cmps.reduce((worst, c) => (c.diff - c.tol > worst.diff - worst.tol ? c : worst));
  return { deploy, reports, cmp };
}

// ---------------------------------------------------------------------------------------------------------
// The official convert script, independently (float64, from the state-dict tensors of a BN-kept export).

export interface Mistakes {
  dropIdentity?: boolean;
  /** Pad the 1x1 kernel into the corner tap instead of the centre. */
  offCentre1x1?: boolean;
  /** std = sqrt(var) instead of sqrt(var + eps). */
  ignoreEpsilon?: boolean;
  /** Identity kernel at input channel i, as if ungrouped (channels beyond C/groups lose it). */
  ignoreGroups?: boolean;
}

function floats(g: Graph, name: string): Float32Array {
  const t = g.constant(name);
  if (!t) throw new Error(`no tensor ${name}`);
  return toFloat32(t);
}

/** The BN behind state-dict prefix `p`: per-channel t = gamma / std and shift beta - mean * t. */
function bnTensor(g: Graph, p: string, m: Mistakes): { t: Float64Array; shift: Float64Array } {
  const node = g.nodes.find((n) => n.opType === 'BatchNormalization' && n.inputs[1] === `${p}.weight`);
  if (!node) throw new Error(`no BatchNormalization reads ${p}.weight`);
  const eps = m.ignoreEpsilon ? 0 : Math.fround(attrFloat(node, 'epsilon', 1e-5));
  const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => floats(g, `${p}.${k}`));
  const t = new Float64Array(gamma.length);
  const shift = new Float64Array(gamma.length);
  for (let i = 0; i < t.length; i++) {
    t[i] = gamma[i] / Math.sqrt(variance[i] + eps);
    shift[i] = beta[i] - mean[i] * t[i];
  }
  return { t, shift };
}

/** get_equivalent_kernel_bias() of block `prefix` (e.g. `stage1.1`), 3x3 kernels. */
export function officialKernelBias(g: Graph, prefix: string, m: Mistakes = {}): { kernel: Float32Array; bias: Float32Array; dims: number[] } {
  const w3 = g.constant(`${prefix}.rbr_dense.conv.weight`)!;
  const [c, inPerGroup] = w3.dims;
  const k3 = toFloat32(w3);
  const k1 = floats(g, `${prefix}.rbr_1x1.conv.weight`);
  const kernel = new Float64Array(k3.length);
  const bias = new Float64Array(c);
  const dense = bnTensor(g, `${prefix}.rbr_dense.bn`, m);
  const one = bnTensor(g, `${prefix}.rbr_1x1.bn`, m);
  const at = (o: number, i: number, y: number, x: number) => ((o * inPerGroup + i) * 3 + y) * 3 + x;
  for (let o = 0; o < c; o++) {
    for (let i = 0; i < inPerGroup; i++) {
      for (let j = 0; j < 9; j++) kernel[(o * inPerGroup + i) * 9 + j] += k3[(o * inPerGroup + i) * 9 + j] * dense.t[o];
      const tap = m.offCentre1x1 ? at(o, i, 0, 0) : at(o, i, 1, 1);
      kernel[tap] += k1[o * inPerGroup + i] * one.t[o];
    }
    bias[o] += dense.shift[o] + one.shift[o];
  }
  if (g.constant(`${prefix}.rbr_identity.weight`) && !m.dropIdentity) {
    const id = bnTensor(g, `${prefix}.rbr_identity`, m);
    for (let o = 0; o < c; o++) {
      const i = m.ignoreGroups ? o : o % inPerGroup;
      if (i < inPerGroup) kernel[at(o, i, 1, 1)] += id.t[o];
      bias[o] += id.shift[o];
    }
  }
  return { kernel: Float32Array.from(kernel), bias: Float32Array.from(bias), dims: [...w3.dims] };
}
