/**
 * Stand-in calibration for the QDQ tests: min/max of each tensor over a few feeds, from onnxruntime on a clone
 * with the tensors added as outputs (the interface the build's calibration fills: tensor -> range).
 */
import ort from 'onnxruntime-node';
import { decodeModel, encodeModel, loadModel, type Model } from '../../builders/ir/model.js';
import { insertQdq, planQuantization, type QdqOptions, type QdqResult, type TensorRange } from '../../builders/quantize/qdq.js';
import { DataType } from '../../core/tensor.js';

export async function minMaxRanges(model: Model, tensors: string[], feeds: Record<string, ort.Tensor>[]): Promise<Map<string, TensorRange>> {
  const clone = decodeModel(encodeModel(model), 'clone.onnx');
  for (const t of tensors) if (!clone.graph.isGraphOutput(t)) clone.graph.outputs.push({ name: t, elemType: DataType.FLOAT });
  const session = await ort.InferenceSession.create(encodeModel(clone), { graphOptimizationLevel: 'disabled' });
  const ranges = new Map<string, TensorRange>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  try {
    for (const f of feeds) {
      const out = await session.run(f);
      for (const t of tensors) {
        const r = ranges.get(t)!;
        for (const v of out[t].data as Float32Array) {
          if (v < r.min) r.min = v;
          if (v > r.max) r.max = v;
        }
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/** Plan, calibrate on `feeds` and insert QDQ into a copy of `model`. */
export async function quantizedCopy(model: Model, feeds: Record<string, ort.Tensor>[], opts: QdqOptions): Promise<{ model: Model; result: QdqResult; ranges: Map<string, TensorRange> }> {
  const copy = decodeModel(encodeModel(model), 'copy.onnx');
  const plan = planQuantization(copy, opts);
  const ranges = await minMaxRanges(copy, plan.tensors, feeds);
  return { model: copy, result: insertQdq(copy, plan, ranges, opts), ranges };
}

/** The op histogram of the model onnxruntime runs after its graph optimizations (QDQ fusions included). */
export async function optimizedOps(model: Model, file: string): Promise<Record<string, number>> {
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'all', optimizedModelFilePath: file, logSeverityLevel: 3 });
  await session.release();
  const ops: Record<string, number> = {};
  for (const n of loadModel(file).graph.nodes) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
  }
  return ops;
}

/** Float convolutions left in an optimized model, whatever onnxruntime renamed them to (FusedConv, nchwc.Conv). */
export function floatConvs(ops: Record<string, number>): number {
  return Object.entries(ops).filter(([op]) => /(^|\.)(Fused)?Conv$/.test(op)).reduce((a, [, k]) => a + k, 0);
}
