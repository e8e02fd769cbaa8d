/**
 * quantize-int8 (`backend.dtype: int8`): calibrate, choose the layers that stay float, insert QDQ.
 *
 * Before: the float model as deployed (baked preprocessing taking uint8 images, appended softmax)
 * After:  Conv/Gemm/MatMul between QuantizeLinear/DequantizeLinear pairs (builders/quantize/qdq.ts), which
 *   onnxruntime runs as QLinearConv / QGemm; the preprocessing before the first quantized tensor and the
 *   softmax after the float logits stay float.
 * Conditions: a `dataset` to calibrate on; per op, the registry's (an op it cannot quantize stays float and
 *   the manifest says why). With `backend.quantize.max_accuracy_drop`, the most sensitive layers stay float
 *   until the bound holds (builders/quantize/accuracy.ts).
 * The math: ranges per calibrate_mode (builders/quantize/range.ts); activations uint8 asymmetric (as fast as
 *   int8 here, onnxruntime's x86 U8S8 path; README), weights int8 symmetric, biases int32 at in_scale * w_scale.
 */
import { calibrate } from '../quantize/calibration.js';
import { chooseFloatLayers, type AccuracyReport } from '../quantize/accuracy.js';
import { evaluationSet } from '../quantize/eval-set.js';
import { insertQdq, planQuantization, type ActivationType, type QdqOptions } from '../quantize/qdq.js';
import type { Model } from '../ir/model.js';
import type { Pass, PassContext, PassReport } from './pass.js';

/** Activation type: uint8 (bench:quant measures it against int8 side by side; README has the numbers). */
export const ACTIVATION: ActivationType = 'uint8';

export const quantizeInt8: Pass = {
  name: 'quantize-int8',
  wanted: (inputs) => inputs.config.backend.dtype === 'int8',
  async run(model: Model, ctx: PassContext): Promise<PassReport> {
    const q = ctx.config.backend.quantize ?? {};
    const opts: QdqOptions = { perChannel: q.quantize_per_channel ?? true, activation: ACTIVATION };
    const plan = planQuantization(model, opts);
    const report: PassReport = { changes: [], skipped: [] };
    for (const f of plan.float) {
      const line = `${f.op} ${f.node} left in float: ${f.why}`;
      report.skipped.push(line);
      ctx.warn(line);
    }
    if (!plan.nodes.length) {
      report.skipped.push('no Conv, Gemm or MatMul that can be quantized: the model stays float');
      return report;
    }
    const cal = await calibrate(ctx.config, model, plan.tensors, { symmetric: false, vdsp: ctx.vdsp, warn: ctx.warn, notice: (l) => ctx.progress(`notice: ${l}`) });
    ctx.progress(`calibration: ${cal.facts.files_used} file(s), ${cal.facts.mode}${cal.facts.percentile !== undefined ? ` ${cal.facts.percentile}` : ''}, ${plan.tensors.length} tensor(s) in ${cal.facts.seconds.toFixed(2)} s`);
    let keepFloat = new Set<string>();
    let accuracy: AccuracyReport | undefined;
    if (q.max_accuracy_drop !== undefined) {
      const set = await evaluationSet(ctx.config, model, ctx.vdsp);
      ({ keepFloat, report: accuracy } = await chooseFloatLayers(model, cal.ranges, opts, set, q.max_accuracy_drop, ctx.config.locate('backend.quantize.max_accuracy_drop'), ctx.progress));
    }
    const final: QdqOptions = { ...opts, keepFloat };
    const result = insertQdq(model, planQuantization(model, final), cal.ranges, final);
    report.changes.push(...result.changes);
    for (const k of accuracy?.kept_float ?? []) {
      const line = `${k.node} kept in float for max_accuracy_drop: ${k.why}`;
      report.skipped.push(line);
      ctx.progress(line);
    }
    report.details = {
      activation_type: ACTIVATION,
      per_channel: opts.perChannel,
      calibration: cal.facts,
      tensors: result.tensors,
      kept_float: [...(accuracy?.kept_float ?? []), ...plan.float.map((f) => ({ node: f.node, why: `cannot be quantized: ${f.why}` }))],
      ...(accuracy ? { accuracy } : {}),
    };
    return report;
  },
};
