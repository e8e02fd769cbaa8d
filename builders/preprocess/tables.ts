/**
 * Resampling coefficient tables for one axis (source size -> destination size), shared by the graph
 * builder (which stores them as constants) and the host resize.
 *
 * BILINEAR_CV = OpenCV 4.x cv2.resize(INTER_LINEAR) on uint8 (resize.cpp, measured pixel-exact against
 * OpenCV 4.6, see docs/vdsp-params.md): f = float32((d + 0.5) * (1 / (dst/src)) - 0.5), i0 = floor(f),
 * r = f - i0; 11-bit weights w0 = rint((1 - r) * 2048), w1 = rint(r * 2048) (float32 products, rounding half
 * to even as cvRound). Columns clamp at the edges (i0 < 0 -> 0, r = 0; i0 >= src-1 -> src-1, r = 0); rows
 * keep their weights and clip the row index instead. Horizontal sums S = p0*w0 + p1*w1 stay integers; the
 * vertical step is OpenCV's SIMD one: (((S0>>4)*w0)>>16) + (((S1>>4)*w1)>>16) + 2) >> 2.
 *
 * BILINEAR_PILLOW = Pillow 9.x Image.resize(BILINEAR) (libImaging/Resample.c): a triangle filter whose support
 * grows with the shrink factor (antialiasing), coefficients normalized in float64 then turned into 22-bit
 * integers; each pass (horizontal first, then vertical) rounds to uint8: clip8((2^21 + sum p*k) >> 22).
 *
 * BILINEAR = ONNX Resize mode=linear, coordinate_transformation_mode=half_pixel (float32), rounded to uint8
 * half to even: x = (d + 0.5) / (dst/src) - 0.5 clamped into [0, src-1], neighbours floor(x) and +1 (clamped).
 */

export const CV_BITS = 11;
export const CV_ONE = 1 << CV_BITS;
export const PILLOW_BITS = 22;

export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface CvAxis {
  /** First source index (already clamped for columns; may be -1 or src-1 for rows, see `rows`). */
  i0: Int32Array;
  w0: Int32Array;
  w1: Int32Array;
}

/** OpenCV INTER_LINEAR fixed-point table. `edgeClamp` = the horizontal (column) variant. */
export function cvAxis(src: number, dst: number, edgeClamp: boolean): CvAxis {
  const scale = 1 / (dst / src);
  const i0 = new Int32Array(dst);
  const w0 = new Int32Array(dst);
  const w1 = new Int32Array(dst);
  for (let d = 0; d < dst; d++) {
    const f = Math.fround((d + 0.5) * scale - 0.5);
    let i = Math.floor(f);
    let r = Math.fround(f - i);
    if (edgeClamp) {
      if (i < 0) {
        i = 0;
        r = 0;
      }
      if (i >= src - 1) {
        i = src - 1;
        r = 0;
      }
    }
    i0[d] = i;
    w0[d] = roundHalfEven(Math.fround(Math.fround(1 - r) * CV_ONE));
    w1[d] = roundHalfEven(Math.fround(r * CV_ONE));
  }
  return { i0, w0, w1 };
}

/** Source indices of the two taps, clipped into the image: [2 * dst], tap k of output d at k * dst + d. */
export function cvTaps(axis: CvAxis, src: number): Int32Array {
  const dst = axis.i0.length;
  const idx = new Int32Array(2 * dst);
  for (let d = 0; d < dst; d++) {
    for (let k = 0; k < 2; k++) idx[k * dst + d] = Math.min(Math.max(axis.i0[d] + k, 0), src - 1);
  }
  return idx;
}

export interface PillowAxis {
  /** Taps per output (the widest filter; shorter ones are padded with zero weights). */
  ksize: number;
  /** First source index of each output's window. */
  start: Int32Array;
  /** Window length of each output (<= ksize). */
  count: Int32Array;
  /** 22-bit integer coefficients, [dst * ksize]. */
  k: Int32Array;
}

/** Pillow precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle, support 1) filter. */
export function pillowAxis(src: number, dst: number): PillowAxis {
  const scale = src / dst;
  const filterscale = Math.max(scale, 1);
  const support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const k = new Int32Array(dst * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let d = 0; d < dst; d++) {
    const center = (d + 0.5) * scale;
    // C casts truncate toward zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(src, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[d * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PILLOW_BITS)) : Math.trunc(0.5 + v * (1 << PILLOW_BITS));
    }
    start[d] = xmin;
    count[d] = xmax;
  }
  return { ksize, start, count, k };
}

export interface LinearAxis {
  i0: Int32Array;
  i1: Int32Array;
  /** float32 weights of i0 and i1. */
  w0: Float32Array;
  w1: Float32Array;
}

/** ONNX Resize linear / half_pixel for one axis, in float32 as onnxruntime computes it. */
export function linearAxis(src: number, dst: number): LinearAxis {
  const scale = Math.fround(dst / src);
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w0 = new Float32Array(dst);
  const w1 = new Float32Array(dst);
  for (let d = 0; d < dst; d++) {
    let x = Math.fround(Math.fround(Math.fround(d + 0.5) / scale) - 0.5);
    x = Math.max(0, Math.min(x, src - 1));
    const a = Math.min(Math.trunc(x), src - 1);
    const b = Math.min(a + 1, src - 1);
    i0[d] = a;
    i1[d] = b;
    if (a === b) {
      w0[d] = 0.5;
      w1[d] = 0.5;
    } else {
      w0[d] = Math.fround(Math.abs(x - b));
      w1[d] = Math.fround(Math.abs(x - a));
    }
  }
  return { i0, i1, w0, w1 };
}
