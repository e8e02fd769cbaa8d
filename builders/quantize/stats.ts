/**
 * Per-tensor calibration statistics, reduced where the activations are produced (the calibration workers)
 * and merged in the parent. Nothing here keeps activations: a tensor's statistics are a running min/max and
 * a fixed-bin histogram whose size does not depend on how many samples went through.
 *
 * Histogram layout: one bin width w for both signs, with 0 on a bin edge, so that the histogram of |x| is
 * exact (pos[k] + neg[k]). The larger side gets `bins` bins: w = max(-min, max) / bins; the other side as
 * many bins of the same width as its extent needs. pos[k] counts x in [k*w, (k+1)*w), neg[k] counts x in
 * (-(k+1)*w, -k*w]; a value at the far end goes into the last bin. The range comes from a first pass
 * (min/max) over the whole set, so the bin edges, and so the counts, do not depend on batch order, batch
 * size or the number of workers: the same data always gives the same histogram (counts are integers kept
 * in float64, exact up to 2^53).
 */
import { InternalError } from '../../core/errors.js';

export interface Histogram {
  /** Bin width; 0 when every value is 0 (then pos = [count]). */
  width: number;
  pos: Float64Array;
  neg: Float64Array;
}

export interface TensorStats {
  /** Finite values seen. */
  count: number;
  /** NaN and ±Inf values seen (left out of min, max and the histogram). */
  nonFinite: number;
  /** Smallest and largest finite value; +Inf / -Inf while count is 0. */
  min: number;
  max: number;
  histogram?: Histogram;
}

/** Bins of the larger side of a histogram unless the caller asks otherwise (TensorRT's entropy calibrator uses 2048). */
export const DEFAULT_BINS = 2048;

export function emptyStats(): TensorStats {
  return { count: 0, nonFinite: 0, min: Infinity, max: -Infinity };
}

/** Running min/max over one more block of values. */
export function accumulateMinMax(s: TensorStats, data: Float32Array): void {
  let min = s.min;
  let max = s.max;
  let bad = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      bad++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  s.min = min;
  s.max = max;
  s.nonFinite += bad;
  s.count += data.length - bad;
}

/** An empty histogram over [min, max] (the first pass's range), `bins` bins on the larger side. */
export function histogramFor(min: number, max: number, bins = DEFAULT_BINS): Histogram {
  if (!(bins >= 1) || !Number.isInteger(bins)) throw new InternalError(`histogram bins must be a positive integer, got ${bins}`);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const extent = Math.max(-lo, hi);
  if (!Number.isFinite(extent)) throw new InternalError(`histogram over a non-finite range [${min}, ${max}]`);
  if (extent === 0) return { width: 0, pos: new Float64Array(1), neg: new Float64Array(0) };
  const width = extent / bins;
  const side = (e: number) => (e > 0 ? Math.min(bins, Math.max(1, Math.ceil(e / width))) : 0);
  return { width, pos: new Float64Array(Math.max(1, side(hi))), neg: new Float64Array(side(-lo)) };
}

/** Count one more block of values into `h` (non-finite values are skipped; the first pass counted them). */
export function accumulateHistogram(h: Histogram, data: Float32Array): void {
  const { pos, neg } = h;
  if (h.width === 0) {
    for (let i = 0; i < data.length; i++) if (data[i] - data[i] === 0) pos[0]++;
    return;
  }
  const inv = 1 / h.width;
  const lastPos = pos.length - 1;
  const lastNeg = neg.length - 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) continue;
    if (v >= 0) {
      const k = Math.floor(v * inv);
      pos[k > lastPos ? lastPos : k]++;
    } else {
      const k = Math.floor(-v * inv);
      // A negative value beyond the first pass's range cannot happen; clamp for float rounding at the edge.
      neg[k > lastNeg ? lastNeg : k]++;
    }
  }
}

/** Merge `b` into `a` (same tensor, statistics from another worker). */
export function mergeStats(a: TensorStats, b: TensorStats): void {
  a.count += b.count;
  a.nonFinite += b.nonFinite;
  a.min = Math.min(a.min, b.min);
  a.max = Math.max(a.max, b.max);
  if (!b.histogram) return;
  if (!a.histogram) {
    a.histogram = { width: b.histogram.width, pos: Float64Array.from(b.histogram.pos), neg: Float64Array.from(b.histogram.neg) };
    return;
  }
  const ha = a.histogram;
  const hb = b.histogram;
  if (ha.width !== hb.width || ha.pos.length !== hb.pos.length || ha.neg.length !== hb.neg.length) {
    throw new InternalError('merging histograms with different bin layouts');
  }
  for (let k = 0; k < ha.pos.length; k++) ha.pos[k] += hb.pos[k];
  for (let k = 0; k < ha.neg.length; k++) ha.neg[k] += hb.neg[k];
}

/** The histogram of |x|: bin k counts |x| in [k*w, (k+1)*w). */
export function absHistogram(h: Histogram): Float64Array {
  const out = new Float64Array(Math.max(h.pos.length, h.neg.length));
  for (let k = 0; k < h.pos.length; k++) out[k] += h.pos[k];
  for (let k = 0; k < h.neg.length; k++) out[k] += h.neg[k];
  return out;
}

/**
 * The signed histogram as one array from the most negative bin to the most positive, with the value of the
 * lower edge of bin 0 (bin j covers [lower + j*w, lower + (j+1)*w)).
 */
export function signedHistogram(h: Histogram): { counts: Float64Array; lower: number } {
  const counts = new Float64Array(h.neg.length + h.pos.length);
  for (let k = 0; k < h.neg.length; k++) counts[h.neg.length - 1 - k] = h.neg[k];
  counts.set(h.pos, h.neg.length);
  return { counts, lower: -h.neg.length * h.width };
}
