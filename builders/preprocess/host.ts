/**
 * vdsp preprocessing on the host, with the semantics the baked graph has (builders/preprocess/): uint8 RGB
 * planar [3,H,W] image of any size -> float32 [3,OimageHeight,OimageWidth]. BILINEAR_CV and BILINEAR_PILLOW
 * are pixel-exact (OpenCV / Pillow integer arithmetic); normalization is float32 (x - sub) * mul, bit-equal
 * to the graph's explicit Sub/Mul.
 * Speed: only the output window (the crop) is resampled, each needed source row is filtered once, typed
 * arrays only, no per-pixel allocation; BILINEAR_CV runs in WebAssembly SIMD (resize-cv.wat).
 */
import { RebakeError } from '../../core/errors.js';
import type { ResizeType, VdspParams } from '../config/types.js';
import { LETTERBOX_PAD, planFor, type PreprocessPlan, type Window } from './plan.js';
import { RESIZE_CV_WASM_BASE64 } from './resize-cv-wasm.js';
import { cvAxis, linearAxis, pillowAxis, PILLOW_BITS, roundHalfEven } from './tables.js';

/**
 * Resize uint8 planar [c,h,w] to [c,oh,ow] and return only `win` of the result ([c,win.h,win.w]); the whole
 * image when `win` is omitted. Every output pixel depends on the source only, so a window equals the same
 * crop of the full resize.
 */
export function resizeU8(src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, kind: ResizeType, win?: Window): Uint8Array {
  const wd = win ?? { x: 0, y: 0, w: ow, h: oh };
  if (src.length !== c * h * w) throw new RebakeError('IMAGE_SIZE', `image buffer has ${src.length} bytes, [${c},${h},${w}] needs ${c * h * w}`);
  const dst = new Uint8Array(c * wd.h * wd.w);
  if (oh === h && ow === w) {
    copyWindow(src, c, h, w, wd, dst);
    return dst;
  }
  switch (kind) {
    case 'BILINEAR_CV':
      resizeCv(src, c, h, w, oh, ow, wd, dst);
      break;
    case 'BILINEAR_PILLOW':
      resizePillow(src, c, h, w, oh, ow, wd, dst);
      break;
    case 'BILINEAR':
      resizeLinear(src, c, h, w, oh, ow, wd, dst);
      break;
    default:
      throw new RebakeError('VDSP_ENUM', `unknown ResizeType "${kind as string}"`);
  }
  return dst;
}

function copyWindow(src: Uint8Array, c: number, h: number, w: number, wd: Window, dst: Uint8Array): void {
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < wd.h; y++) {
      const s = (ch * h + wd.y + y) * w + wd.x;
      dst.set(src.subarray(s, s + wd.w), (ch * wd.h + y) * wd.w);
    }
  }
}

/** The WebAssembly SIMD kernel of builders/preprocess/resize-cv.wat, instantiated on first use. */
interface CvKernel {
  memory: WebAssembly.Memory;
  resize(src: number, c: number, h: number, w: number, n: number, np: number, wh: number, xi: number, xw: number, ytab: number, rows: number, dst: number): void;
}
let cvKernel: CvKernel | undefined;

function kernel(): CvKernel {
  if (!cvKernel) {
    const bytes = Buffer.from(RESIZE_CV_WASM_BASE64, 'base64');
    cvKernel = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as CvKernel;
  }
  return cvKernel;
}

const up16 = (x: number) => (x + 15) & ~15;

/**
 * BILINEAR_CV: OpenCV's separable fixed-point resize (see tables.ts), in WebAssembly SIMD, 8 columns per
 * instruction: the horizontal pass gathers each column's two source bytes into one 16-bit lane and takes
 * the (w0, w1) dot product; the vertical pass is OpenCV's own SIMD step on 16-bit rows. A filtered source
 * row is kept while the next output rows read it. Bit-exact with the scalar formula (the fixtures are
 * OpenCV's own output); bench:preprocess times it against cv2.resize.
 */
function resizeCv(src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, wd: Window, dst: Uint8Array): void {
  const cx = cvAxis(w, ow, true);
  const cy = cvAxis(h, oh, false);
  const n = wd.w;
  const np = up16(n);
  const wh = wd.h;
  // Layout (byte offsets, 16-aligned): image (+16 slack: a zero-weight second tap may read past it), column
  // taps, column weights, row table, two filtered rows, output (+16 slack: rows are stored 16 bytes at a time).
  let end = 0;
  const take = (bytes: number) => {
    const at = end;
    end = up16(end + bytes);
    return at;
  };
  const S = take(c * h * w + 16);
  const X = take(np * 4);
  const XW = take(np * 4);
  const Y = take(wh * 16);
  const R = take(np * 4);
  const D = take(c * wh * n + 16);
  const k = kernel();
  if (k.memory.buffer.byteLength < end) k.memory.grow(Math.ceil((end - k.memory.buffer.byteLength) / 65536));
  const buf = k.memory.buffer;
  new Uint8Array(buf, S, c * h * w).set(src);
  const xi = new Int32Array(buf, X, np).fill(0);
  const xw = new Int16Array(buf, XW, 2 * np).fill(0);
  for (let x = 0; x < n; x++) {
    xi[x] = cx.i0[wd.x + x];
    xw[2 * x] = cx.w0[wd.x + x];
    xw[2 * x + 1] = cx.w1[wd.x + x];
  }
  const yt = new Int32Array(buf, Y, wh * 4);
  for (let y = 0; y < wh; y++) {
    const i = cy.i0[wd.y + y];
    yt[4 * y] = Math.min(Math.max(i, 0), h - 1);
    yt[4 * y + 1] = Math.min(Math.max(i + 1, 0), h - 1);
    yt[4 * y + 2] = cy.w0[wd.y + y];
    yt[4 * y + 3] = cy.w1[wd.y + y];
  }
  k.resize(S, c, h, w, n, np, wh, X, XW, Y, R, D);
  dst.set(new Uint8Array(buf, D, c * wh * n));
}

const PILLOW_HALF = 1 << (PILLOW_BITS - 1);

function resizePillow(src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, wd: Window, dst: Uint8Array): void {
  // Horizontal pass first (when the width changes) on the rows the vertical pass reads, rounded to uint8.
  const vy = oh !== h ? pillowAxis(h, oh) : undefined;
  const rowFirst = vy ? vy.start[wd.y] : wd.y;
  const rowEnd = vy ? Math.max(...Array.from({ length: wd.h }, (_, i) => vy.start[wd.y + i] + vy.count[wd.y + i])) : wd.y + wd.h;
  const rows = rowEnd - rowFirst;
  const n = wd.w;
  let mid: Uint8Array;
  if (ow !== w) {
    const ax = pillowAxis(w, ow);
    mid = new Uint8Array(c * rows * n);
    for (let ch = 0; ch < c; ch++) {
      for (let r = 0; r < rows; r++) {
        const base = (ch * h + rowFirst + r) * w;
        const o = (ch * rows + r) * n;
        for (let x = 0; x < n; x++) {
          const d = wd.x + x;
          const s0 = base + ax.start[d];
          const kb = d * ax.ksize;
          let ss = PILLOW_HALF;
          for (let t = 0, cnt = ax.count[d]; t < cnt; t++) ss += src[s0 + t] * ax.k[kb + t];
          const v = ss >> PILLOW_BITS;
          mid[o + x] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  } else {
    mid = new Uint8Array(c * rows * n);
    copyWindow(src, c, h, w, { x: wd.x, y: rowFirst, w: n, h: rows }, mid);
  }
  if (!vy) {
    dst.set(mid);
    return;
  }
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < wd.h; y++) {
      const d = wd.y + y;
      const kb = d * vy.ksize;
      const cnt = vy.count[d];
      const r0 = (ch * rows + vy.start[d] - rowFirst) * n;
      const o = (ch * wd.h + y) * n;
      for (let x = 0; x < n; x++) {
        let ss = PILLOW_HALF;
        for (let t = 0; t < cnt; t++) ss += mid[r0 + t * n + x] * vy.k[kb + t];
        const v = ss >> PILLOW_BITS;
        dst[o + x] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}

function resizeLinear(src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, wd: Window, dst: Uint8Array): void {
  const ax = linearAxis(w, ow);
  const ay = linearAxis(h, oh);
  const f = Math.fround;
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let y = 0; y < wd.h; y++) {
      const oy = wd.y + y;
      const r0 = plane + ay.i0[oy] * w;
      const r1 = plane + ay.i1[oy] * w;
      const wy0 = ay.w0[oy];
      const wy1 = ay.w1[oy];
      const o = (ch * wd.h + y) * wd.w;
      for (let x = 0; x < wd.w; x++) {
        const ox = wd.x + x;
        const x0 = ax.i0[ox];
        const x1 = ax.i1[ox];
        const wx0 = ax.w0[ox];
        const wx1 = ax.w1[ox];
        const v = f(f(f(f(f(wx0 * wy0) * src[r0 + x0]) + f(f(wx1 * wy0) * src[r0 + x1])) + f(f(wx0 * wy1) * src[r1 + x0])) + f(f(wx1 * wy1) * src[r1 + x1]));
        const r = roundHalfEven(v);
        dst[o + x] = r < 0 ? 0 : r > 255 ? 255 : r;
      }
    }
  }
}

/** The uint8 [3,OH,OW] image after resize/letterbox and crop, before the channel swap and normalization. */
export function geometryU8(src: Uint8Array, c: number, h: number, w: number, plan: PreprocessPlan): Uint8Array {
  if (plan.pad) {
    const r = plan.resize;
    const nh = r ? r.toH : h;
    const nw = r ? r.toW : w;
    const inner = r ? resizeU8(src, c, h, w, nh, nw, r.kind) : src;
    const out = new Uint8Array(c * plan.outH * plan.outW).fill(LETTERBOX_PAD);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < nh; y++) {
        const s = (ch * nh + y) * nw;
        out.set(inner.subarray(s, s + nw), (ch * plan.outH + plan.pad.top + y) * plan.outW + plan.pad.left);
      }
    }
    return out;
  }
  const rh = plan.resize ? plan.resize.toH : h;
  const rw = plan.resize ? plan.resize.toW : w;
  const win = plan.crop ?? { x: 0, y: 0, w: rw, h: rh };
  return resizeU8(src, c, h, w, rh, rw, plan.resize?.kind ?? 'BILINEAR_CV', win);
}

/** Channel swap + normalization of a uint8 [3,H,W] image into float32, (x - sub) * mul in float32. */
export function normalizeInto(img: Uint8Array, plan: PreprocessPlan, out: Float32Array, offset = 0): void {
  const n = plan.outH * plan.outW;
  for (let c = 0; c < 3; c++) {
    const from = (plan.swap ? 2 - c : c) * n;
    const sub = Math.fround(plan.sub[c]);
    const mul = Math.fround(plan.mul[c]);
    const o = offset + c * n;
    for (let i = 0; i < n; i++) out[o + i] = Math.fround(img[from + i] - sub) * mul;
  }
}

/**
 * Full vdsp preprocessing of one uint8 RGB planar image [c=3,h,w] of any size: float32 [3,OH,OW], written
 * into `out` at `offset` when given (e.g. a batch buffer).
 */
export function preprocess(imageU8: Uint8Array, c: number, h: number, w: number, vdsp: VdspParams, out?: Float32Array, offset = 0, file?: string): Float32Array {
  if (c !== 3) throw new RebakeError('IMAGE_CHANNELS', `vdsp preprocessing takes RGB images with 3 channels, got ${c}`, file ? { file } : undefined);
  const plan = planFor(vdsp, h, w, file);
  const dst = out ?? new Float32Array(3 * plan.outH * plan.outW);
  normalizeInto(geometryU8(imageU8, c, h, w, plan), plan, dst, offset);
  return dst;
}

/**
 * The uint8 image to feed a model with this preprocessing baked in, for an image of another size: the
 * host does the resize (or letterbox) to IimageWidth x IimageHeight, so that the graph's own resize is a
 * no-op. Exact (equals `preprocess` of the original image) when the baked resize target equals the input
 * size (every zoo file: ResizeWidth = IimageWidth, or Oimage = Iimage for the no-crop and letterbox ops);
 * otherwise the image is resized twice, as the hardware would see an image of the wrong size.
 */
export function imageForBakedModel(imageU8: Uint8Array, c: number, h: number, w: number, vdsp: VdspParams): Uint8Array {
  const cfg = vdsp.OpConfig;
  const ih = cfg.IimageHeight;
  const iw = cfg.IimageWidth;
  if (h === ih && w === iw) return imageU8;
  if (vdsp.OpType === 'FUSION_OP_RGB_LETTERBOX_CVTCOLOR_NORM_TENSOR' && cfg.OimageHeight === ih && cfg.OimageWidth === iw) {
    return geometryU8(imageU8, c, h, w, planFor(vdsp, h, w));
  }
  return resizeU8(imageU8, c, h, w, ih, iw, cfg.ResizeType);
}

/**
 * A uint8 image at a uint8 model's input size (ih x iw): as is, or resized the way the vdsp op would
 * (imageForBakedModel when the params are set up for that size, else a resize with their ResizeType,
 * BILINEAR_CV without params). `rebake run` and calibration feed baked models through this one function.
 */
export function imageAtInputSize(u8: Uint8Array, c: number, h: number, w: number, ih: number, iw: number, vdsp?: VdspParams): Uint8Array {
  if (h === ih && w === iw) return u8;
  if (vdsp && vdsp.OpConfig.IimageHeight === ih && vdsp.OpConfig.IimageWidth === iw) return imageForBakedModel(u8, c, h, w, vdsp);
  return resizeU8(u8, c, h, w, ih, iw, vdsp?.OpConfig.ResizeType ?? 'BILINEAR_CV');
}
