/**
 * store-weights-fp16 (`backend.dtype: fp16`): the weights of Conv, ConvTranspose, Gemm and MatMul are stored
 * as float16 (the file about half the size), each behind one Cast back to float32.
 *
 * Before: W (float32 initializer) -> Conv
 * After:  W_fp16 (float16 initializer) -> Cast(to float32) -> W -> Conv   (every reader of W reads the Cast)
 * Conditions: W is a float32 initializer, not a graph input, read only in a weight position (Conv/ConvTranspose
 *   inputs 1-2, Gemm inputs 1-2, MatMul input 1) and every value fits float16 (|w| <= 65504). Anything else
 *   stays float32: shape-like floats (Resize scales), preprocessing constants and tiny tensors are a few bytes
 *   and rounding them would change what the graph computes, not only its weights.
 * The math: w16 = round-to-nearest-even(w); the model computes with w16 exactly, in float32.
 * Why not float16 compute: onnxruntime's CPU provider has no float16 Conv/Gemm kernels on x86; given a float16
 *   graph it inserts the same Casts itself (bench:quant measures both side by side) and the graph input/output
 *   would change type. Storage plus Cast runs the float32 kernels on the rounded weights, at fp32 speed.
 */
import { DataType, floatToHalf, makeTensor, toFloat32 } from '../../core/tensor.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Pass, PassReport } from './pass.js';

const FP16_MAX = 65504;
/** op type -> input positions that hold weights. */
const WEIGHT_INPUTS: Record<string, number[]> = { Conv: [1, 2], ConvTranspose: [1, 2], Gemm: [1, 2], MatMul: [1] };

function weightOnly(g: Graph, name: string): boolean {
  const readers = g.consumers(name);
  if (!readers.length || g.isGraphOutput(name) || g.isGraphInput(name)) return false;
  return readers.every((n) => n.domain === '' && n.inputs.every((v, i) => v !== name || (WEIGHT_INPUTS[n.opType] ?? []).includes(i)));
}

export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]);
  return out;
}

export const storeWeightsFp16: Pass = {
  name: 'store-weights-fp16',
  wanted: (ctx) => ctx.config.backend.dtype === 'fp16',
  run(model: Model): PassReport {
    const g = model.graph;
    const report: PassReport = { changes: [], skipped: [] };
    let count = 0;
    let before = 0;
    let after = 0;
    for (const [name, t] of [...g.initializers]) {
      if (t.dataType !== DataType.FLOAT || !weightOnly(g, name)) continue;
      const values = toFloat32(t);
      let peak = 0;
      for (const v of values) peak = Math.max(peak, Math.abs(v));
      if (!(peak <= FP16_MAX)) {
        report.skipped.push(`${name}: |w| reaches ${peak}, beyond float16's ${FP16_MAX}; kept float32`);
        continue;
      }
      g.removeInitializer(name);
      const half = g.uniqueName(`${name}_fp16`);
      g.setInitializer(makeTensor(half, DataType.FLOAT16, t.dims, toHalf(values)));
      g.addNode({ name: g.uniqueName(`${name}/Cast`), opType: 'Cast', inputs: [half], outputs: [name], attrs: { to: DataType.FLOAT } });
      count++;
      before += values.byteLength;
      after += values.length * 2;
    }
    if (count) report.changes.push(`${count} weight tensor(s) stored as float16 behind a Cast to float32: ${before} -> ${after} bytes`);
    g.sortNodes();
    return report;
  },
};
