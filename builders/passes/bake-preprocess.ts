/**
 * bake-preprocess: prepend the vdsp preprocessing (builders/preprocess/) so the model takes decoded images.
 *
 * Before: x: float [N,3,OH,OW] (preprocessed tensor) -> Conv(W, b) -> ...
 * After:  x: uint8 [N,3,IH,IW] (RGB planar image, same name, the model's batch dim: symbolic stays symbolic)
 *           -> [resize] -> [letterbox Pad 114] -> [crop Slice] -> Cast -> [Sub m'] -> Conv(W', b') -> ...
 *         or, when the input feeds anything but foldable Convs, explicit ops before the consumers:
 *           ... -> [crop Slice] -> [Gather channels 2,1,0] -> Cast -> [Sub] -> [Mul] -> consumers
 * Conditions: one graph input, float32/float16, shape [N,3,OH,OW] (symbolic H/W accepted), opset >= 11.
 *   Folding needs every reader of the input to be a Conv reading it as data, group 1, constant float32 weights.
 * Math: the plan normalizes n_c = (x_pi(c) - sub_c) * mul_c (pi = channel reversal when swapping, an involution),
 *   so y_o = sum_c W[o,c] n_c = sum_r W[o,pi(r)] mul_pi(r) (x_r - sub_pi(r)):
 *   W'[o,r] = W[o,pi(r)] * mul[pi(r)] (always exact), and the raw pixels lose m'[r] = sub[pi(r)].
 *   That subtraction folds into the bias, b'_o = b_o - sum_{r,k} W'[o,r,k] m'[r], only for Convs without padding:
 *   a Conv's zero padding pads n, i.e. raw pixels equal to m', not raw zeros, so at the borders a folded mean
 *   would be wrong. Padded Convs keep an explicit Sub on the cropped float tensor (cheap: 3 values per pixel).
 * Writes model metadata `rebake.preprocess` (JSON: vdsp file, op type, image input, the float value the network
 * reads, and per step its placement: graph nodes, folded into which Conv, or none).
 */
import path from 'node:path';
import { InternalError, RebakeError } from '../../core/errors.js';
import { BATCH_DIM, type Graph, type ValueInfo } from '../ir/graph.js';
import { opsetVersion, type Model } from '../ir/model.js';
import { DataType, dataTypeName, floatToHalf } from '../../core/tensor.js';
import type { VdspParams } from '../config/types.js';
import { Emitter, emitGeometry } from '../preprocess/graph.js';
import { describeResize, planFor, type PreprocessPlan } from '../preprocess/plan.js';
import { convInfo, replaceConvWeight, setConvBias, type ConvInfo } from './lib/conv.js';
import type { Pass, PassContext, PassReport } from './pass.js';

export const PREPROCESS_METADATA_KEY = 'rebake.preprocess';

export interface PreprocessStep {
  step: 'resize' | 'letterbox' | 'crop' | 'channel swap' | 'scale' | 'mean';
  /** graph: explicit nodes; folded: into the named Conv(s); none: nothing to do. */
  placement: 'graph' | 'folded' | 'none';
  nodes: string[];
  detail: string;
}

export interface PreprocessRecord {
  vdsp_params: string;
  op_type: string;
  input: { name: string; dtype: 'uint8'; shape: (number | string)[]; format: 'RGB_PLANAR' };
  /** The value the network reads: the preprocessing ends here (cut the graph at it to get the preprocessing alone). */
  network_input: { name: string; dtype: string; shape: (number | string)[] };
  steps: PreprocessStep[];
}

/** The model's single float image input, checked against the vdsp params. */
function imageInput(g: Graph, vdsp: VdspParams, file: string, modelFile: string): ValueInfo {
  if (g.inputs.length !== 1) {
    throw new RebakeError('PREPROCESS_INPUTS', `the model has ${g.inputs.length} inputs (${g.inputs.map((i) => i.name).join(', ')}); baked preprocessing needs exactly one image input`, { file: modelFile });
  }
  const input = g.inputs[0];
  if (input.elemType !== DataType.FLOAT && input.elemType !== DataType.FLOAT16) {
    throw new RebakeError('PREPROCESS_INPUT_DTYPE', `input "${input.name}" is ${dataTypeName(input.elemType)}; baked preprocessing needs a float32 or float16 input (is the preprocessing already baked in?)`, { file: modelFile });
  }
  if (g.isGraphOutput(input.name)) {
    throw new RebakeError('PREPROCESS_INPUTS', `input "${input.name}" is also a graph output`, { file: modelFile });
  }
  const c = vdsp.OpConfig;
  const shape = input.shape;
  const shown = `[${(shape ?? []).join(', ')}]`;
  if (!shape || shape.length !== 4) {
    throw new RebakeError('VDSP_MODEL_MISMATCH', `${c.IimageFormat} images need a [N, 3, H, W] network input; the model input "${input.name}" has shape ${shape ? shown : 'unknown'}`, { file, path: 'OpConfig.IimageFormat' });
  }
  if (typeof shape[1] === 'number' && shape[1] !== 3) {
    throw new RebakeError('VDSP_MODEL_MISMATCH', `${c.IimageFormat} gives 3 channels, but the model input "${input.name}" takes ${shape[1]} (shape ${shown})`, { file, path: 'OpConfig.IimageFormat' });
  }
  for (const [axis, key, what] of [[2, 'OimageHeight', 'height'], [3, 'OimageWidth', 'width']] as const) {
    const d = shape[axis];
    if (typeof d === 'number' && d >= 0 && d !== c[key]) {
      throw new RebakeError('VDSP_MODEL_MISMATCH', `${c[key]} does not match the network input ${what} ${d} (model input "${input.name}" ${shown})`, { file, path: `OpConfig.${key}` });
    }
  }
  return input;
}

/** The Convs the normalization can fold into, or why not. */
function foldableConvs(g: Graph, value: string): ConvInfo[] | string {
  const readers = g.consumers(value);
  if (!readers.length) return 'nothing reads the network input';
  const convs: ConvInfo[] = [];
  for (const n of readers) {
    const info = convInfo(g, n);
    if (typeof info === 'string') return `${n.opType} ${n.name} reads the network input${n.opType === 'Conv' ? ` (${info})` : ''}`;
    if (n.inputs.lastIndexOf(value) !== 0) return `Conv ${n.name} reads the network input as a weight or bias`;
    if (info.group !== 1 || info.inPerGroup !== 3) return `Conv ${n.name} is grouped (group ${info.group})`;
    convs.push(info);
  }
  return convs;
}

const isPadded = (c: ConvInfo) => [...c.padsBegin, ...c.padsEnd].some((p) => p !== 0);
const fmt = (v: number[]) => `[${v.map((x) => Number(x.toPrecision(6))).join(', ')}]`;

function floatConstant(e: Emitter, step: string, name: string, dtype: DataType, values: number[]): string {
  const data = dtype === DataType.FLOAT16 ? values.map(floatToHalf) : values;
  return e.constant(step, name, dtype, [1, 3, 1, 1], data);
}

function dropIfUnused(g: Graph, name: string | undefined): void {
  if (name && g.initializers.has(name) && g.useCount(name) === 0 && !g.isGraphInput(name)) g.removeInitializer(name);
}

/** Fold channel swap and scale (and the mean, when no Conv pads) into the Convs; says whether the mean went into the biases. */
function foldIntoConvs(g: Graph, convs: ConvInfo[], plan: PreprocessPlan, perm: number[]): { meanInBias: boolean } {
  const subRaw = perm.map((p) => plan.sub[p]);
  const hasMean = subRaw.some((s) => s !== 0);
  const meanInBias = hasMean && !convs.some(isPadded);
  for (const c of convs) {
    const src = c.weight.data as Float32Array;
    const [outC] = c.weight.dims;
    const k = src.length / (outC * 3);
    const w = new Float32Array(src.length);
    for (let o = 0; o < outC; o++) {
      for (let r = 0; r < 3; r++) {
        const from = (o * 3 + perm[r]) * k;
        const to = (o * 3 + r) * k;
        const m = plan.mul[perm[r]];
        for (let i = 0; i < k; i++) w[to + i] = src[from + i] * m;
      }
    }
    const oldWeight = c.weightName;
    replaceConvWeight(g, c.node, c.weight.dims, w);
    dropIfUnused(g, oldWeight);
    if (meanInBias) {
      const bias = new Float32Array(outC);
      for (let o = 0; o < outC; o++) {
        let acc = c.bias ? c.bias[o] : 0;
        for (let r = 0; r < 3; r++) {
          let s = 0;
          for (let i = 0; i < k; i++) s += w[(o * 3 + r) * k + i];
          acc -= s * subRaw[r];
        }
        bias[o] = acc;
      }
      const oldBias = c.biasName;
      setConvBias(g, c.node, bias);
      dropIfUnused(g, oldBias);
    }
  }
  return { meanInBias };
}

function run(model: Model, ctx: PassContext): PassReport {
  const vdsp = ctx.vdsp;
  if (!vdsp) throw new InternalError('bake-preprocess ran without vdsp params');
  const file = ctx.vdspFile ?? 'vdsp params';
  const modelFile = ctx.config.frontend.checkpoint;
  const g = model.graph;
  const input = imageInput(g, vdsp, file, modelFile);
  const opset = opsetVersion(model);
  if (opset < 11) {
    throw new RebakeError('PREPROCESS_OPSET', `the model uses opset ${opset}; baked preprocessing needs opset 11 or later (re-export the model)`, { file: modelFile });
  }
  const c = vdsp.OpConfig;
  const plan = planFor(vdsp, c.IimageHeight, c.IimageWidth, file);
  const report: PassReport = { changes: [], skipped: [] };
  const steps: PreprocessStep[] = [];
  const place = (step: PreprocessStep) => {
    steps.push(step);
    const where = step.placement === 'graph' ? `: ${step.nodes.join(', ')}` : '';
    (step.placement === 'none' ? report.skipped : report.changes).push(`${step.step}: ${step.detail}${where}`);
  };

  // The network now reads a new float value; the image input keeps the name.
  const name = input.name;
  const floatDtype = input.elemType;
  const net = g.uniqueName(`${name}_preprocessed`);
  g.replaceAllUses(name, net);
  const oldShape = input.shape!;
  // A static batch stays: the graph may depend on it (an exported flatten Reshape to [1, -1] does).
  const batch = oldShape[0] === -1 ? BATCH_DIM : oldShape[0];
  g.inputs = [{ name, elemType: DataType.UINT8, shape: [batch, 3, c.IimageHeight, c.IimageWidth] }];
  report.changes.push(`input ${name}: ${dataTypeName(floatDtype)} [${oldShape.join(', ')}] -> uint8 [${g.inputs[0].shape!.join(', ')}] (RGB planar image)`);
  if (typeof batch === 'number') report.skipped.push(`batch dimension stays ${batch}: the model has a static batch (export it with a dynamic one for N > 1)`);

  const e = new Emitter(g, opset);
  const geo = emitGeometry(e, plan, name);
  const isLetterbox = vdsp.OpType === 'FUSION_OP_RGB_LETTERBOX_CVTCOLOR_NORM_TENSOR';
  place({ step: 'resize', placement: geo.nodes.resize ? 'graph' : 'none', nodes: geo.nodes.resize ?? [], detail: describeResize(plan) });
  if (isLetterbox) {
    const p = plan.pad;
    const detail = p ? `pad with 114 to ${plan.outW}x${plan.outH}: top ${p.top}, left ${p.left}, bottom ${p.bottom}, right ${p.right}` : 'no padding (the resized image fills the output)';
    place({ step: 'letterbox', placement: geo.nodes.pad ? 'graph' : 'none', nodes: geo.nodes.pad ?? [], detail });
  }
  const cr = plan.crop;
  place({
    step: 'crop',
    placement: cr ? 'graph' : 'none',
    nodes: (geo.cropInResize ? geo.nodes.resize : geo.nodes.crop) ?? [],
    detail: cr ? `${cr.w}x${cr.h} at x ${cr.x}, y ${cr.y}${geo.cropInResize ? ' (the resize resamples only this window)' : ''}` : 'no crop (the output is the whole resized image)',
  });

  const perm = plan.swap ? [2, 1, 0] : [0, 1, 2];
  const hasMean = plan.sub.some((s) => s !== 0);
  const hasScale = plan.mul.some((m) => m !== 1);
  const convs = foldableConvs(g, net);
  let v = geo.value;
  const swapDetail = plan.swap ? `${c.ColorCvtCode}: reverse the channel order` : 'NO_CHANGE';
  const scaleDetail = `${plan.normFormula}: multiply by ${fmt(plan.mul)} per output channel`;
  const meanDetail = `subtract ${fmt(plan.sub)} per output channel`;

  if (typeof convs !== 'string') {
    const names = convs.map((x) => x.node.name).join(', ');
    const { meanInBias } = foldIntoConvs(g, convs, plan, perm);
    v = e.cast('normalize', v, floatDtype);
    const nodesBefore = e.nodes.length;
    if (hasMean && !meanInBias) {
      v = e.op('normalize', 'Sub', [v, floatConstant(e, 'normalize', 'mean', floatDtype, perm.map((p) => plan.sub[p]))]);
    }
    const subNodes = e.nodes.slice(nodesBefore);
    place({ step: 'channel swap', placement: plan.swap ? 'folded' : 'none', nodes: [], detail: plan.swap ? `${swapDetail}, folded into the input channels of Conv ${names}` : swapDetail });
    place({ step: 'scale', placement: hasScale ? 'folded' : 'none', nodes: [], detail: hasScale ? `${scaleDetail}, folded into the weights of Conv ${names}` : `${plan.normFormula}: no scaling` });
    if (!hasMean) place({ step: 'mean', placement: 'none', nodes: [], detail: `${plan.normFormula}: no mean` });
    else if (meanInBias) place({ step: 'mean', placement: 'folded', nodes: [], detail: `${meanDetail}, folded into the bias of Conv ${names} (no padding: exact)` });
    else {
      const padded = convs.filter(isPadded).map((x) => `${x.node.name} (pads ${[...x.padsBegin, ...x.padsEnd].join(',')})`).join(', ');
      place({ step: 'mean', placement: 'graph', nodes: subNodes, detail: `${meanDetail} before Conv ${names} (${padded} zero-pads: a mean in the bias would be wrong at the borders)` });
    }
  } else {
    report.skipped.push(`normalization not folded: ${convs}; explicit ops instead`);
    if (plan.swap) {
      const before = e.nodes.length;
      v = e.op('channel_swap', 'Gather', [v, e.constant('channel_swap', 'order', DataType.INT64, [3], [2, 1, 0])], { axis: 1 });
      place({ step: 'channel swap', placement: 'graph', nodes: e.nodes.slice(before), detail: swapDetail });
    } else place({ step: 'channel swap', placement: 'none', nodes: [], detail: swapDetail });
    v = e.cast('normalize', v, floatDtype);
    let before = e.nodes.length;
    if (hasMean) v = e.op('normalize', 'Sub', [v, floatConstant(e, 'normalize', 'mean', floatDtype, plan.sub)]);
    place({ step: 'mean', placement: hasMean ? 'graph' : 'none', nodes: e.nodes.slice(before), detail: hasMean ? meanDetail : `${plan.normFormula}: no mean` });
    before = e.nodes.length;
    if (hasScale) v = e.op('normalize', 'Mul', [v, floatConstant(e, 'normalize', 'scale', floatDtype, plan.mul)]);
    place({ step: 'scale', placement: hasScale ? 'graph' : 'none', nodes: e.nodes.slice(before), detail: hasScale ? scaleDetail : `${plan.normFormula}: no scaling` });
  }
  // The last node produces the value the network reads.
  g.renameOutput(g.producer(v)!, 0, net);
  g.sortNodes();

  const record: PreprocessRecord = {
    vdsp_params: path.basename(file),
    op_type: vdsp.OpType,
    input: { name, dtype: 'uint8', shape: g.inputs[0].shape!, format: 'RGB_PLANAR' },
    network_input: { name: net, dtype: dataTypeName(floatDtype), shape: [batch, 3, plan.outH, plan.outW] },
    steps,
  };
  setMetadata(model, PREPROCESS_METADATA_KEY, JSON.stringify(record));
  return report;
}

function setMetadata(model: Model, key: string, value: string): void {
  const props = (model.rest.metadataProps ?? []).filter((p) => p.key !== key);
  props.push({ key, value });
  model.rest.metadataProps = props;
}

export const bakePreprocess: Pass = {
  name: 'bake-preprocess',
  changesSignature: true,
  wanted: (ctx) => ctx.vdsp !== undefined,
  run,
};
