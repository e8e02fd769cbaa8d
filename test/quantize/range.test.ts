/**
 * Calibration ranges (builders/quantize/range.ts) on a synthetic activation: 500k Gaussian values plus three
 * far outliers, against NumPy computed on the raw values (percentile, max, the brute-force MSE optimum) and
 * a separate NumPy implementation of TensorRT's entropy calibration on the same histogram.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpz } from '../../core/npz.js';
import { computeRange, fakeQuantize, quantGrid, type CalibrateMode, type Range } from '../../builders/quantize/range.js';
import { absHistogram, accumulateHistogram, accumulateMinMax, emptyStats, histogramFor, mergeStats, type TensorStats } from '../../builders/quantize/stats.js';

const N = 500_000;
const OUTLIERS = [40, 35, -30];

function gaussian(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** Two passes as the workers do them, over `chunks` blocks in the given order. */
function statsOf(chunks: Float32Array[]): TensorStats {
  const s = emptyStats();
  for (const c of chunks) accumulateMinMax(s, c);
  s.histogram = histogramFor(s.min, s.max);
  for (const c of chunks) accumulateHistogram(s.histogram, c);
  return s;
}

const values = new Float32Array(N + OUTLIERS.length);
values.set(gaussian(N, 7));
values.set(OUTLIERS, N);
const stats = statsOf([values]);
const w = stats.histogram!.width;
/** After a ReLU: half the values exactly 0. */
const relu = gaussian(N, 11).map((v) => Math.max(v, 0));
const reluStats = statsOf([relu]);

let dir: string;
let ref: {
  absMax: number; min: number; max: number;
  /** NumPy percentiles as the nearest sample below and above ('lower' / 'higher'). */
  pAbs: [number, number]; pLo: [number, number]; pHi: [number, number];
  mseT: number; mseBest: number; klT: number;
  reluMseBest: number; reluKlT: number; reluKlTNoFix: number; reluMseNoFix: number;
  mseAt: (t: number) => number;
};

/** MSE of the symmetric int8 grid with threshold t on the raw values (what the quantized model would see). */
function sampleMse(t: number): number {
  const g = quantGrid({ min: -t, max: t }, true);
  let e = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i] - fakeQuantize(values[i], g);
    e += d * d;
  }
  return e / values.length;
}

const NUMPY = String.raw`
import json, sys
import numpy as np
d = np.load(sys.argv[1])
x = d['values'].astype(np.float64)
hist = d['abs_hist'].astype(np.float64)
w = float(d['width'][0])
p = 99.999
a = np.abs(x)
out = {'absMax': a.max(), 'min': x.min(), 'max': x.max(),
       'pAbs': [np.percentile(a, p, method=m) for m in ('lower', 'higher')],
       'pLo': [np.percentile(x, (100 - p) / 2, method=m) for m in ('lower', 'higher')],
       'pHi': [np.percentile(x, 100 - (100 - p) / 2, method=m) for m in ('lower', 'higher')]}
# Brute-force MSE optimum of the int8 grid (scale t/127, codes -128..127, round half to even) on the raw values.
ts = np.linspace(0.5, a.max(), 300)
def mse(t):
    s = t / 127
    q = np.clip(np.round(x / s), -128, 127) * s
    return float(np.mean((x - q) ** 2))
errs = [mse(t) for t in ts]
k = int(np.argmin(errs))
out['mseT'] = float(ts[k]); out['mseBest'] = errs[k]
# TensorRT entropy calibration, written independently: 128 levels over the abs histogram.
def smooth(v, eps=1e-4):
    z = (v == 0); nz = ~z
    if nz.sum() == 0: return None
    v = v.copy()
    v[z] = eps
    v[nz] -= eps * z.sum() / nz.sum()
    return v
def entropy_t(hist, w, zero_fix=True):
    n = int(np.nonzero(hist)[0][-1]) + 1
    hist = hist[:n].copy()
    # NVIDIA's reference (pytorch-quantization): the first bin (every zero a ReLU makes) counts as the second.
    if zero_fix: hist[0] = hist[1]
    best, best_i = np.inf, n
    for i in range(128, n + 1):
        ref = hist[:i].copy()
        ref[i - 1] += hist[i:n].sum()
        m = i // 128
        q = np.zeros(i)
        for j in range(128):
            lo = j * m
            hi = i if j == 127 else lo + m
            nzs = ref[lo:hi] != 0
            if nzs.sum():
                q[lo:hi][nzs] = hist[lo:hi].sum() / nzs.sum()
        P, Q = smooth(ref), smooth(q)
        if P is None or Q is None: continue
        P = P / P.sum(); Q = Q / Q.sum()
        kl = float(np.sum(P * np.log(P / Q)))
        if kl <= best: best, best_i = kl, i
    return best_i * w
out['klT'] = entropy_t(hist, w)
# ReLU of a unit Gaussian: half the values exactly 0.
r = d['relu'].astype(np.float64)
rw = float(d['relu_width'][0])
def mse_r(t):
    s = t / 127
    return float(np.mean((r - np.clip(np.round(r / s), -128, 127) * s) ** 2))
rts = np.linspace(0.5, r.max(), 400)
out['reluMseBest'] = min(mse_r(t) for t in rts)
out['reluKlT'] = entropy_t(d['relu_hist'].astype(np.float64), rw)
out['reluKlTNoFix'] = entropy_t(d['relu_hist'].astype(np.float64), rw, zero_fix=False)
out['reluMseNoFix'] = mse_r(out['reluKlTNoFix'])
print(json.dumps(out))
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-range-'));
  const file = path.join(dir, 'act.npz');
  writeNpz(file, {
    relu: { dtype: 'float32', shape: [relu.length], data: relu },
    relu_hist: { dtype: 'float64', shape: [absHistogram(reluStats.histogram!).length], data: absHistogram(reluStats.histogram!) },
    relu_width: { dtype: 'float64', shape: [1], data: Float64Array.of(reluStats.histogram!.width) },
    values: { dtype: 'float32', shape: [values.length], data: values },
    abs_hist: { dtype: 'float64', shape: [absHistogram(stats.histogram!).length], data: absHistogram(stats.histogram!) },
    width: { dtype: 'float64', shape: [1], data: Float64Array.of(w) },
  });
  const r = spawnSync('python3', ['-c', NUMPY, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  ref = { ...JSON.parse(r.stdout), mseAt: sampleMse };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const range = (mode: CalibrateMode, symmetric: boolean, percentile?: number): Range => computeRange(stats, mode, { symmetric, percentile });

describe('calibration ranges on Gaussian + outliers', () => {
  it('max: exactly the observed range (outliers kept)', () => {
    expect(range('max', true)).toEqual({ min: -ref.absMax, max: ref.absMax });
    expect(range('max', false)).toEqual({ min: ref.min, max: ref.max });
    expect(ref.absMax).toBe(40);
  });

  it('percentile 99.999: NumPy percentile of the raw values to within one bin (outward), outliers clipped', () => {
    const sym = range('percentile', true);
    expect(sym.max).toBe(-sym.min);
    expect(sym.max).toBeGreaterThanOrEqual(ref.pAbs[0] - 1e-9);
    expect(sym.max).toBeLessThanOrEqual(ref.pAbs[1] + w + 1e-9);
    expect(sym.max).toBeLessThan(6);
    const asym = range('percentile', false);
    expect(asym.min).toBeLessThanOrEqual(ref.pLo[1] + 1e-9);
    expect(asym.min).toBeGreaterThanOrEqual(ref.pLo[0] - w - 1e-9);
    expect(asym.max).toBeGreaterThanOrEqual(ref.pHi[0] - 1e-9);
    expect(asym.max).toBeLessThanOrEqual(ref.pHi[1] + w + 1e-9);
    expect(asym.max).toBeLessThan(6);
    expect(asym.min).toBeGreaterThan(-6);
  });

  it('percentile is configurable; 100 is the max range', () => {
    expect(range('percentile', true, 100)).toEqual(range('max', true));
    const p99 = range('percentile', true, 99);
    expect(p99.max).toBeLessThan(range('percentile', true).max);
    expect(p99.max).toBeGreaterThan(2.5); // |x| at 99% of a unit Gaussian is 2.576
    expect(p99.max).toBeLessThan(2.576 + w + 0.02);
  });

  it('kl_divergence: the same threshold as an independent NumPy TensorRT entropy calibration', () => {
    const kl = range('kl_divergence', true);
    expect(kl.max).toBeCloseTo(ref.klT, 9);
    // Clips the outliers, keeps the Gaussian body.
    expect(kl.max).toBeGreaterThan(3);
    expect(kl.max).toBeLessThan(30);
  });

  it('kl_divergence after a ReLU: the zeros do not make it clip the tail (squared error near the optimum)', () => {
    const t = computeRange(reluStats, 'kl_divergence', { symmetric: true }).max;
    expect(t).toBeCloseTo(ref.reluKlT, 9);
    const g = quantGrid({ min: -t, max: t }, true);
    let e = 0;
    for (const v of relu) e += (v - fakeQuantize(v, g)) ** 2;
    expect(e / relu.length).toBeLessThanOrEqual(ref.reluMseBest * 1.3);
    expect(t).toBeGreaterThan(3.5);
    // Negative control: the same search with the zeros' bin left as it is cuts at under 2 sigma, an error
    // far past the bound above.
    expect(ref.reluKlTNoFix).toBeLessThan(2);
    expect(ref.reluMseNoFix).toBeGreaterThan(ref.reluMseBest * 50);
  });

  it('mse: within 2% of the brute-force optimum on the raw values, better than max', () => {
    const t = range('mse', true).max;
    expect(sampleMse(t)).toBeLessThanOrEqual(ref.mseBest * 1.02);
    expect(sampleMse(t)).toBeLessThan(sampleMse(ref.absMax) * 0.6);
    expect(t).toBeGreaterThan(3);
    expect(t).toBeLessThan(30);
    const a = range('mse', false);
    expect(a.min).toBeLessThan(-3);
    expect(a.max).toBeGreaterThan(3);
    expect(a.max).toBeLessThan(30);
    expect(a.min).toBeGreaterThan(-30);
  });

  it('does not depend on how the values were split into batches or in which order they came', () => {
    const parts = [values.subarray(0, 1234), values.subarray(1234, 300_000), values.subarray(300_000)];
    const a = statsOf([parts[2], parts[0], parts[1]]);
    // Two "workers", merged.
    const w1 = emptyStats();
    const w2 = emptyStats();
    accumulateMinMax(w1, parts[1]);
    accumulateMinMax(w2, parts[0]);
    accumulateMinMax(w2, parts[2]);
    mergeStats(w1, w2);
    const h1 = histogramFor(w1.min, w1.max);
    const h2 = histogramFor(w1.min, w1.max);
    accumulateHistogram(h1, parts[0]);
    accumulateHistogram(h2, parts[2]);
    accumulateHistogram(h2, parts[1]);
    const merged = { ...w1, histogram: h1 };
    mergeStats(merged, { ...emptyStats(), histogram: h2 });
    for (const s of [a, merged]) {
      expect(s.count).toBe(values.length);
      for (const mode of ['max', 'percentile', 'kl_divergence', 'mse'] as const) {
        expect(computeRange(s, mode, { symmetric: true })).toEqual(range(mode, true));
        expect(computeRange(s, mode, { symmetric: false })).toEqual(range(mode, false));
      }
    }
  });

  it('uses 256 levels for a non-negative tensor in an asymmetric (uint8) range', () => {
    const relu = values.map((v) => Math.max(v, 0));
    const s = statsOf([relu]);
    const u8 = computeRange(s, 'kl_divergence', { symmetric: false });
    const i8 = computeRange(s, 'kl_divergence', { symmetric: true });
    expect(u8.min).toBe(0);
    expect(u8.max).toBeGreaterThan(3);
    expect(u8.max).not.toBe(i8.max);
  });

  it('all-zero and empty tensors get a zero range; the grid of a zero range has scale 1', () => {
    expect(computeRange(statsOf([new Float32Array(10)]), 'mse', { symmetric: true })).toEqual({ min: 0, max: 0 });
    expect(computeRange(emptyStats(), 'percentile', { symmetric: false })).toEqual({ min: 0, max: 0 });
    expect(quantGrid({ min: 0, max: 0 }, false).scale).toBe(1);
  });

  it('NaN and infinities are counted apart and left out of the range', () => {
    const s = statsOf([Float32Array.of(1, NaN, -2, Infinity, 0.5, -Infinity)]);
    expect(s.count).toBe(3);
    expect(s.nonFinite).toBe(3);
    expect(computeRange(s, 'max', { symmetric: false })).toEqual({ min: -2, max: 1 });
  });
});

describe('quantization grid', () => {
  it('symmetric int8: scale T/127, zero point 0; asymmetric uint8: zero point where 0 lands', () => {
    expect(quantGrid({ min: -2.54, max: 2.54 }, true)).toEqual({ scale: 0.02, zeroPoint: 0, qmin: -128, qmax: 127 });
    const g = quantGrid({ min: -1, max: 3 }, false);
    expect(g.scale).toBe(Math.fround(4 / 255));
    expect(g.zeroPoint).toBe(64);
    expect(fakeQuantize(0, g)).toBe(0);
    expect(fakeQuantize(10, g)).toBe((255 - 64) * g.scale);
  });
});
