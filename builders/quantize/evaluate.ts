/**
 * Run a candidate model over a fixed set of samples and keep its first output (scores per class), for the
 * accuracy loop. One onnxruntime session with every core as intra-op threads; samples go in batches when the
 * batch dimension is symbolic.
 */
import os from 'node:os';
import ort from 'onnxruntime-node';
import type { Model } from '../ir/model.js';
import { encodeModel } from '../ir/model.js';

/** Samples of one model input, each `[C, H, W]` (or the layout the input takes) without the batch dim. */
export interface SampleSet {
  input: string;
  dtype: 'uint8' | 'float32';
  /** Per-sample dims (no batch). */
  dims: number[];
  samples: (Uint8Array | Float32Array)[];
  /** A fixed batch of 1 in the model: one sample per run. */
  batch1?: boolean;
}

export interface Scores {
  classes: number;
  /** samples x classes, row-major. */
  data: Float32Array;
}

const BATCH = 32;

export async function runScores(model: Model | Uint8Array, set: SampleSet): Promise<Scores> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: Math.max(1, os.availableParallelism()), graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  try {
    const per = set.dims.reduce((a, b) => a * b, 1);
    const step = set.batch1 ? 1 : BATCH;
    let out: Float32Array | undefined;
    let classes = 0;
    for (let start = 0; start < set.samples.length; start += step) {
      const chunk = set.samples.slice(start, start + step);
      const data = set.dtype === 'uint8' ? new Uint8Array(per * chunk.length) : new Float32Array(per * chunk.length);
      chunk.forEach((s, i) => data.set(s, i * per));
      const res = await session.run({ [set.input]: new ort.Tensor(set.dtype, data, [chunk.length, ...set.dims]) });
      const y = res[session.outputNames[0]].data as Float32Array;
      classes = y.length / chunk.length;
      out ??= new Float32Array(classes * set.samples.length);
      out.set(y, start * classes);
    }
    return { classes, data: out ?? new Float32Array() };
  } finally {
    await session.release();
  }
}

export function top1(s: Scores): number[] {
  const n = s.data.length / s.classes;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < s.classes; c++) if (s.data[i * s.classes + c] > s.data[i * s.classes + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Percent of positions where a and b agree. */
export function agreement(a: number[], b: number[]): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length ? (100 * same) / a.length : 100;
}

/** Mean over samples of ||y - ref||^2 / ||ref||^2: how far a candidate's scores move from the float model's. */
export function relativeError(y: Scores, ref: Scores): number {
  const n = ref.data.length / ref.classes;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let num = 0;
    let den = 0;
    for (let c = 0; c < ref.classes; c++) {
      const r = ref.data[i * ref.classes + c];
      const d = y.data[i * ref.classes + c] - r;
      num += d * d;
      den += r * r;
    }
    sum += den > 0 ? num / den : num;
  }
  return n ? sum / n : 0;
}
