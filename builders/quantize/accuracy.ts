/**
 * Keeping accuracy (`backend.quantize.max_accuracy_drop`, points of top-1): which layers stay float.
 *
 * 1. Reference: the float model's top-1 on the evaluation set, and its scores.
 * 2. The fully quantized model; if its drop is within the bound, nothing stays float.
 * 3. Sensitivity of each candidate layer: the model with only that layer quantized, scored by the mean
 *    relative squared error of its scores against the float model's (finer than top-1 on a small set).
 * 4. Layers go back to float one at a time, most sensitive first, until the drop is within the bound. At least
 *    one layer stays int8 (else the build would be the fp32 model under another name): when even every layer
 *    but the least sensitive in float does not meet the bound, a located error names the best drop reached.
 *
 * The drop is fp32 top-1 minus int8 top-1 on a labelled set, or, without labels, 100 minus the percentage of
 * samples where the int8 model's top-1 agrees with the float model's.
 */
import { RebakeError, type SourceLocation } from '../../core/errors.js';
import { cloneModel, type Model } from '../ir/model.js';
import { agreement, relativeError, runScores, top1, type SampleSet, type Scores } from './evaluate.js';
import { insertQdq, planQuantization, quantizableNodes, type QdqOptions, type TensorRange } from './qdq.js';

export interface EvalSet extends SampleSet {
  /** Class ids per sample; absent: agreement with the float model. */
  labels?: number[];
  /** What the set is, for messages and the manifest. */
  source: string;
}

export interface AccuracyReport {
  metric: 'top1' | 'agreement';
  source: string;
  samples: number;
  max_drop: number;
  fp32_top1?: number;
  /** int8 top-1 (labelled) or agreement (percent) with nothing kept float, then with the final choice. */
  all_int8: number;
  final: number;
  drop: number;
  sensitivity: { node: string; relative_error: number }[];
  kept_float: { node: string; why: string }[];
}

/** The candidate model for `keepFloat`: a clone of the float model with QDQ inserted. */
export function quantizedCandidate(floatModel: Model, ranges: ReadonlyMap<string, TensorRange>, opts: QdqOptions): Model {
  const m = cloneModel(floatModel);
  insertQdq(m, planQuantization(m, opts), ranges, opts);
  return m;
}

export async function chooseFloatLayers(
  floatModel: Model,
  ranges: ReadonlyMap<string, TensorRange>,
  opts: QdqOptions,
  set: EvalSet,
  maxDrop: number,
  where: SourceLocation,
  progress: (line: string) => void,
): Promise<{ keepFloat: Set<string>; report: AccuracyReport }> {
  const ref = await runScores(floatModel, set);
  const refTop1 = top1(ref);
  const score = (s: Scores) => (set.labels ? agreement(top1(s), set.labels) : agreement(top1(s), refTop1));
  const base = set.labels ? agreement(refTop1, set.labels) : 100;
  const fmt = (x: number) => x.toFixed(2);
  const evalWith = async (keep: Set<string>) => score(await runScores(quantizedCandidate(floatModel, ranges, { ...opts, keepFloat: keep }), set));

  const report: AccuracyReport = {
    metric: set.labels ? 'top1' : 'agreement', source: set.source, samples: set.samples.length, max_drop: maxDrop,
    ...(set.labels ? { fp32_top1: base } : {}), all_int8: 0, final: 0, drop: 0, sensitivity: [], kept_float: [],
  };
  const what = set.labels ? 'top-1' : 'top-1 agreement with fp32';
  let current = await evalWith(new Set());
  report.all_int8 = current;
  progress(`accuracy: ${set.labels ? `fp32 top-1 ${fmt(base)}%, ` : ''}all int8 ${what} ${fmt(current)}% on ${set.samples.length} samples (${set.source}); bound: drop <= ${maxDrop}`);
  const keep = new Set<string>();
  if (base - current > maxDrop) {
    const layers = quantizableNodes(floatModel.graph);
    for (const node of layers) {
      const only = new Set(layers.filter((n) => n !== node));
      const s = await runScores(quantizedCandidate(floatModel, ranges, { ...opts, keepFloat: only }), set);
      report.sensitivity.push({ node, relative_error: relativeError(s, ref) });
    }
    const ranked = [...report.sensitivity].sort((a, b) => b.relative_error - a.relative_error || (a.node < b.node ? -1 : 1));
    let best = { score: current, floated: 0 };
    for (const { node, relative_error } of ranked.slice(0, -1)) {
      keep.add(node);
      current = await evalWith(keep);
      if (current > best.score) best = { score: current, floated: keep.size };
      report.kept_float.push({ node, why: `sensitivity ${relative_error.toExponential(2)} (rank ${keep.size} of ${ranked.length}); with it in float: ${what} ${fmt(current)}%, drop ${fmt(base - current)}` });
      progress(`accuracy: ${node} kept in float (relative error ${relative_error.toExponential(2)} when alone int8): ${what} ${fmt(current)}%`);
      if (base - current <= maxDrop) break;
    }
    if (base - current > maxDrop) {
      throw new RebakeError('QUANTIZE_ACCURACY', `${maxDrop} points cannot be met on ${set.source}: the best reached is a drop of ${fmt(base - best.score)} (${what} ${fmt(best.score)}%${set.labels ? ` vs fp32 ${fmt(base)}%` : ''}, the ${best.floated} most sensitive of ${layers.length} layers in float); tried up to every layer but ${ranked[ranked.length - 1].node} in float`, where);
    }
  }
  report.final = current;
  report.drop = Number((base - current).toFixed(4));
  return { keepFloat: keep, report };
}
