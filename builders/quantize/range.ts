/**
 * Activation ranges from calibration statistics (stats.ts), one per `backend.quantize.calibrate_mode`, and
 * the quantization grid a range stands for. docs/calibration.md says the same in prose.
 *
 *   computeRange(stats, mode, { symmetric, percentile }) -> { min, max }   (always min <= 0 <= max)
 *   quantGrid(range, symmetric) -> { scale, zeroPoint, qmin, qmax }
 *
 * Grids. symmetric = int8 with zero point 0: scale = T / 127 for the range [-T, T], codes clamped to
 * [-128, 127] (what QuantizeLinear does). asymmetric = uint8: scale = (max - min) / 255, zeroPoint =
 * round(-min / scale), codes [0, 255] (qdq.ts activationParams, float32 scale). A range of width 0 (an
 * all-zero tensor) gets scale 1.
 *
 * Modes. w is the histogram's bin width; "abs histogram" is the histogram of |x|.
 * - max: the observed range, [min, max] (asymmetric) or [-T, T] with T = max |x| (symmetric).
 * - percentile (p, default 99.999): symmetric: T = the upper edge of the abs-histogram bin where the
 *   cumulative count first reaches p% (so at most w above the exact percentile of |x|). Asymmetric: (100-p)/2
 *   percent of the values are cut off each end of the signed histogram (bin edges outward), as ONNX Runtime's
 *   calibrator does. p = 100 is the max range exactly.
 * - kl_divergence: TensorRT's entropy calibration on the abs histogram: for each candidate i (bins), the
 *   reference P = the first i bins with everything above folded into the last one, the candidate Q = those i
 *   bins merged into L levels and spread back evenly over the bins that are non-zero in P; both smoothed
 *   (zero bins get 1e-4, taken from the non-zero ones) and normalised; T = i * w for the i with the smallest
 *   KL(P || Q) (the largest on ties), the first bin's count taken as the second's (it holds every zero a
 *   ReLU makes). L = 128 (the magnitudes of int8), or 256 for an asymmetric (uint8) range
 *   of a tensor with no negative values. An asymmetric range with negatives is [max(min, -T), min(max, T)].
 * - mse: the range whose grid minimises the squared quantization error (rounding plus clipping) of the
 *   histogram, each bin's count taken at its centre. Symmetric: every T = i * w is tried. Asymmetric: the
 *   lower and upper ends are searched on bin edges in turn (upper with the lower fixed at min, then lower,
 *   then both once more).
 * Ranges never reach past the observed values: T <= max |x|, min <= range.min <= 0 <= range.max <= max.
 */
import { InternalError } from '../../core/errors.js';
import { roundHalfEven } from '../preprocess/tables.js';
import { activationParams } from './qdq.js';
import { absHistogram, signedHistogram, type Histogram, type TensorStats } from './stats.js';

export type CalibrateMode = 'max' | 'percentile' | 'kl_divergence' | 'mse';
export const CALIBRATE_MODES: readonly CalibrateMode[] = ['max', 'percentile', 'kl_divergence', 'mse'];
export const DEFAULT_PERCENTILE = 99.999;

export interface Range {
  min: number;
  max: number;
}

export interface RangeOptions {
  /** int8 [-T, T] with zero point 0 (true), or uint8 [min, max] with a zero point (false). */
  symmetric: boolean;
  /** For `percentile`: in (0, 100]; default 99.999. */
  percentile?: number;
}

export interface QuantGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** Modes that need the histogram pass (all but `max`). */
export function needsHistogram(mode: CalibrateMode): boolean {
  return mode !== 'max';
}

export function quantGrid(range: Range, symmetric: boolean): QuantGrid {
  if (symmetric) {
    const t = Math.max(-range.min, range.max);
    return { scale: t > 0 ? t / 127 : 1, zeroPoint: 0, qmin: -128, qmax: 127 };
  }
  // The grid the QDQ pass deploys (an int8 activation is the same grid shifted by 128).
  const { scale, zero_point } = activationParams(range, 'uint8');
  return { scale, zeroPoint: zero_point, qmin: 0, qmax: 255 };
}

/** x after QuantizeLinear + DequantizeLinear on `g`. */
export function fakeQuantize(x: number, g: QuantGrid): number {
  const q = Math.min(g.qmax, Math.max(g.qmin, roundHalfEven(x / g.scale) + g.zeroPoint));
  return (q - g.zeroPoint) * g.scale;
}

export function computeRange(s: TensorStats, mode: CalibrateMode, opts: RangeOptions): Range {
  if (s.count === 0) return { min: 0, max: 0 };
  const lo = Math.min(s.min, 0);
  const hi = Math.max(s.max, 0);
  const absMax = Math.max(-lo, hi);
  const symmetric = (t: number): Range => ({ min: -Math.min(t, absMax), max: Math.min(t, absMax) });
  if (mode === 'max') return opts.symmetric ? symmetric(absMax) : { min: lo, max: hi };
  const h = s.histogram;
  if (!h) throw new InternalError(`calibrate_mode ${mode} needs the histogram pass`);
  if (h.width === 0) return { min: 0, max: 0 };
  switch (mode) {
    case 'percentile': {
      const p = opts.percentile ?? DEFAULT_PERCENTILE;
      if (!(p > 0 && p <= 100)) throw new InternalError(`percentile must be in (0, 100], got ${p}`);
      if (p === 100) return opts.symmetric ? symmetric(absMax) : { min: lo, max: hi };
      if (opts.symmetric) return symmetric(percentileEdge(absHistogram(h), h.width, p / 100));
      const r = twoSidedPercentile(h, (100 - p) / 200);
      return { min: Math.max(lo, Math.min(0, r.min)), max: Math.min(hi, Math.max(0, r.max)) };
    }
    case 'kl_divergence': {
      const levels = !opts.symmetric && s.min >= 0 ? 256 : 128;
      const t = entropyThreshold(absHistogram(h), h.width, levels);
      return opts.symmetric ? symmetric(t) : { min: Math.max(lo, -t), max: Math.min(hi, t) };
    }
    case 'mse': {
      if (opts.symmetric) return symmetric(mseSymmetric(absHistogram(h), h.width));
      const r = mseAsymmetric(h);
      return { min: Math.max(lo, r.min), max: Math.min(hi, r.max) };
    }
  }
}

/** Upper edge of the first bin where the cumulative count reaches `fraction` of the total. */
function percentileEdge(counts: Float64Array, width: number, fraction: number): number {
  const total = sum(counts);
  const target = fraction * total;
  let cum = 0;
  for (let k = 0; k < counts.length; k++) {
    cum += counts[k];
    if (cum >= target) return (k + 1) * width;
  }
  return counts.length * width;
}

function twoSidedPercentile(h: Histogram, cutFraction: number): Range {
  const { counts, lower } = signedHistogram(h);
  const total = sum(counts);
  const cut = cutFraction * total;
  let cum = 0;
  let first = 0;
  while (first < counts.length - 1 && cum + counts[first] <= cut) cum += counts[first++];
  cum = 0;
  let last = counts.length - 1;
  while (last > 0 && cum + counts[last] <= cut) cum += counts[last--];
  return { min: lower + first * h.width, max: lower + (last + 1) * h.width };
}

/**
 * TensorRT-style entropy calibration: the clipping threshold T (a bin edge) minimising KL(P || Q). The first
 * bin's count is taken as the second's, as NVIDIA's reference (pytorch-quantization) does: after a ReLU that
 * bin holds every exact zero, often half of all values, and a spike that size makes Q's error on it swamp
 * the cost of clipping, so the search would cut the tail hard (measured: T = 1.8 on ReLU of a unit
 * Gaussian, a squared error 200x the optimum's). Of equal divergences the largest T wins.
 */
export function entropyThreshold(histogram: Float64Array, width: number, levels: number): number {
  const n = lastNonZero(histogram) + 1;
  if (n <= levels) return n * width;
  const counts = Float64Array.from(histogram.subarray(0, n));
  counts[0] = counts[1];
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  let bestKl = Infinity;
  let bestI = n;
  let tail = 0;
  for (let k = levels; k < n; k++) tail += counts[k];
  for (let i = levels; i <= n; i++) {
    // P: the first i bins, the outliers folded into the last one.
    for (let k = 0; k < i; k++) p[k] = counts[k];
    p[i - 1] += tail;
    // Q: the first i bins (without the outliers) merged into `levels` chunks, spread back over P's non-zero bins.
    const merged = Math.floor(i / levels);
    for (let j = 0; j < levels; j++) {
      const start = j * merged;
      const stop = j === levels - 1 ? i : start + merged;
      let chunk = 0;
      let nonZero = 0;
      for (let k = start; k < stop; k++) {
        chunk += counts[k];
        if (p[k] !== 0) nonZero++;
      }
      const each = nonZero ? chunk / nonZero : 0;
      for (let k = start; k < stop; k++) q[k] = p[k] !== 0 ? each : 0;
    }
    const kl = klDivergence(p, q, i);
    if (kl <= bestKl) {
      bestKl = kl;
      bestI = i;
    }
    if (i < n) tail -= counts[i];
  }
  return bestI * width;
}

const SMOOTH_EPS = 1e-4;

/** KL(P || Q) over the first n bins after smoothing both (zero bins get eps, taken from the others) and normalising. */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  const sp = smoothed(p, n);
  const sq = smoothed(q, n);
  if (!sp || !sq) return Infinity;
  let kl = 0;
  for (let k = 0; k < n; k++) if (sp.v[k] > 0) kl += (sp.v[k] / sp.total) * Math.log((sp.v[k] / sp.total) / (sq.v[k] / sq.total));
  return kl;
}

function smoothed(d: Float64Array, n: number): { v: Float64Array; total: number } | undefined {
  let zeros = 0;
  for (let k = 0; k < n; k++) if (d[k] === 0) zeros++;
  const nonZeros = n - zeros;
  if (nonZeros === 0) return undefined;
  const take = (SMOOTH_EPS * zeros) / nonZeros;
  const v = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    v[k] = d[k] === 0 ? SMOOTH_EPS : d[k] - take;
    total += v[k];
  }
  return { v, total };
}

/** Squared quantization error of histogram bins (count at each centre) on grid `g`. */
function binError(counts: Float64Array, centre: (k: number) => number, g: QuantGrid): number {
  let err = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if (c === 0) continue;
    const x = centre(k);
    const d = x - fakeQuantize(x, g);
    err += c * d * d;
  }
  return err;
}

function mseSymmetric(counts: Float64Array, width: number): number {
  const centre = (k: number) => (k + 0.5) * width;
  const n = lastNonZero(counts) + 1;
  let best = Infinity;
  let bestT = n * width;
  for (let i = 1; i <= n; i++) {
    const t = i * width;
    // |x| on the magnitudes of a symmetric int8 grid: 127 steps of t / 127.
    const err = binError(counts, centre, { scale: t / 127, zeroPoint: 0, qmin: 0, qmax: 127 });
    if (err < best) {
      best = err;
      bestT = t;
    }
  }
  return bestT;
}

function mseAsymmetric(h: Histogram): Range {
  const { counts, lower } = signedHistogram(h);
  const w = h.width;
  const centre = (k: number) => lower + (k + 0.5) * w;
  const errOf = (min: number, max: number) => binError(counts, centre, quantGrid({ min, max }, false));
  let min = lower;
  let max = lower + counts.length * w;
  const upper = (fixedMin: number) => {
    let best = Infinity;
    let at = max;
    for (let b = 1; b <= h.pos.length; b++) {
      const e = errOf(fixedMin, b * w);
      if (e < best) (best = e), (at = b * w);
    }
    return at;
  };
  const lowerEnd = (fixedMax: number) => {
    let best = errOf(0, fixedMax);
    let at = 0;
    for (let a = 1; a <= h.neg.length; a++) {
      const e = errOf(-a * w, fixedMax);
      if (e < best) (best = e), (at = -a * w);
    }
    return at;
  };
  for (let round = 0; round < 2; round++) {
    max = upper(min);
    if (h.neg.length) min = lowerEnd(max);
  }
  return { min, max };
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k];
  return s;
}

function lastNonZero(a: Float64Array): number {
  let k = a.length - 1;
  while (k > 0 && a[k] === 0) k--;
  return k;
}
