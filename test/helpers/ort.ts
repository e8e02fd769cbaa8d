/** Run models on onnxruntime-node as the independent reference (graph optimizations off by default). */
import ort from 'onnxruntime-node';
import type { Model } from '../../builders/ir/model.js';
import { encodeModel } from '../../builders/ir/model.js';

export type Feeds = Record<string, ort.Tensor>;

export async function runOrt(model: Model | Uint8Array | string, feeds: Feeds, opts: { optimize?: boolean } = {}): Promise<Record<string, ort.Tensor>> {
  const src = typeof model === 'string' ? model : model instanceof Uint8Array ? model : encodeModel(model);
  const session = await ort.InferenceSession.create(src as Uint8Array, {
    graphOptimizationLevel: opts.optimize ? 'all' : 'disabled',
    intraOpNumThreads: 1,
  });
  try {
    const out = await session.run(feeds);
    return out;
  } finally {
    await session.release();
  }
}

/** Seeded uniform [-1, 1) floats (mulberry32), so failures reproduce. */
export function seededFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function floatTensor(dims: number[], seed: number): ort.Tensor {
  return new ort.Tensor('float32', seededFloats(dims.reduce((a, b) => a * b, 1), seed), dims);
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
