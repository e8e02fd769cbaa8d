/**
 * What a vdsp params file asks for, as concrete steps for one input image size: the single description the
 * graph builder (passes/bake-preprocess.ts) and the host (builders/preprocess/host.ts) both follow.
 *
 * Order: resize (or letterbox: aspect-keeping resize, then pad) -> crop -> channel swap -> normalize, all
 * on uint8 planar RGB [3,H,W] until the normalization. The swap commutes with the per-channel geometry, so
 * where it happens is free; Mean/Std index the OUTPUT channel (after the swap).
 * Letterbox (FUSION_OP_RGB_LETTERBOX_...): s = min(OW/W, OH/H) in float64, nw = min(OW, floor(W*s + 0.5)),
 * nh = min(OH, floor(H*s + 0.5)), both >= 1; resize to nw x nh; pad to OW x OH with LETTERBOX_PAD (114, the
 * YOLO grey) at top = (OH-nh) div 2, left = (OW-nw) div 2, the remainder at the bottom/right.
 */
import { InternalError, RebakeError } from '../../core/errors.js';
import type { ResizeType, VdspParams } from '../config/types.js';

export const LETTERBOX_PAD = 114;

/** A rectangle of an image: rows y..y+h-1, columns x..x+w-1. */
export interface Window {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ResizeStep {
  kind: ResizeType;
  fromH: number;
  fromW: number;
  toH: number;
  toW: number;
}

export interface PreprocessPlan {
  inH: number;
  inW: number;
  /** Absent when the target size equals the input size (no-op). */
  resize?: ResizeStep;
  /** Letterbox border around the resized image, filled with LETTERBOX_PAD. */
  pad?: { top: number; left: number; bottom: number; right: number };
  /** Crop window in the resized image; absent when it is the whole image. */
  crop?: Window;
  outH: number;
  outW: number;
  /** Reverse the channel order (BGR2RGB and RGB2BGR are the same permutation). */
  swap: boolean;
  /** out[c] = (x[c] - sub[c]) * mul[c], x in 0..255, c = output channel. */
  sub: [number, number, number];
  mul: [number, number, number];
  /** Human-readable formula, for reports. */
  normFormula: string;
}

export interface Letterbox {
  nw: number;
  nh: number;
  top: number;
  left: number;
}

export function letterboxGeometry(h: number, w: number, oh: number, ow: number): Letterbox {
  const s = Math.min(ow / w, oh / h);
  const nw = Math.max(1, Math.min(ow, Math.floor(w * s + 0.5)));
  const nh = Math.max(1, Math.min(oh, Math.floor(h * s + 0.5)));
  return { nw, nh, top: Math.floor((oh - nh) / 2), left: Math.floor((ow - nw) / 2) };
}

type Triple = [number, number, number];

function normalization(vdsp: VdspParams, file: string): { sub: Triple; mul: Triple; formula: string } {
  const c = vdsp.OpConfig;
  const mean = c.Mean as Triple;
  const std = c.Std as Triple;
  switch (c.NormaType) {
    case 'DIV255_MINUSMEAN_DIVSTD':
      return { sub: mean.map((m) => 255 * m) as Triple, mul: std.map((s) => 1 / (255 * s)) as Triple, formula: '(x/255 - mean)/std' };
    case 'MINUSMEAN_DIVSTD':
      return { sub: [...mean], mul: std.map((s) => 1 / s) as Triple, formula: '(x - mean)/std' };
    case 'DIV255':
      return { sub: [0, 0, 0], mul: [1 / 255, 1 / 255, 1 / 255], formula: 'x/255' };
    case 'EQUAL':
      return { sub: [0, 0, 0], mul: [1, 1, 1], formula: 'x' };
    case 'DIV1275_MINUSONE':
      return { sub: [127.5, 127.5, 127.5], mul: [1 / 127.5, 1 / 127.5, 1 / 127.5], formula: 'x/127.5 - 1' };
    default:
      throw new InternalError(`unvalidated NormaType "${c.NormaType as string}" from ${file}`);
  }
}

/** The steps for an image of h x w (the graph uses IimageHeight x IimageWidth; the host the real size). */
export function planFor(vdsp: VdspParams, h: number, w: number, file = 'vdsp params'): PreprocessPlan {
  const c = vdsp.OpConfig;
  const at = (path: string) => ({ file, path: `OpConfig.${path}` });
  if (c.IimageFormat !== 'RGB_PLANAR') {
    throw new RebakeError('VDSP_UNSUPPORTED', `IimageFormat ${c.IimageFormat} is not supported; images are uint8 RGB planar [3,H,W] (RGB_PLANAR)`, at('IimageFormat'));
  }
  const outH = c.OimageHeight;
  const outW = c.OimageWidth;
  const resizeTo = (toH: number, toW: number): ResizeStep | undefined =>
    toH === h && toW === w ? undefined : { kind: c.ResizeType, fromH: h, fromW: w, toH, toW };
  const norm = normalization(vdsp, file);
  const base = { inH: h, inW: w, outH, outW, swap: c.ColorCvtCode !== 'NO_CHANGE', sub: norm.sub, mul: norm.mul, normFormula: norm.formula };
  switch (vdsp.OpType) {
    case 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR': {
      // loadVdspParams guarantees the crop keys and a crop inside the resized image.
      const rh = c.ResizeHeight!;
      const rw = c.ResizeWidth!;
      const cx = c.CropX!;
      const cy = c.CropY!;
      if (cx + outW > rw || cy + outH > rh) throw new InternalError(`unvalidated crop from ${file}`);
      const whole = cx === 0 && cy === 0 && outW === rw && outH === rh;
      return { ...base, resize: resizeTo(rh, rw), crop: whole ? undefined : { x: cx, y: cy, w: outW, h: outH } };
    }
    case 'FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR':
      return { ...base, resize: resizeTo(outH, outW) };
    case 'FUSION_OP_RGB_LETTERBOX_CVTCOLOR_NORM_TENSOR': {
      const lb = letterboxGeometry(h, w, outH, outW);
      const pad = { top: lb.top, left: lb.left, bottom: outH - lb.nh - lb.top, right: outW - lb.nw - lb.left };
      const padded = pad.top + pad.left + pad.bottom + pad.right > 0;
      return { ...base, resize: resizeTo(lb.nh, lb.nw), pad: padded ? pad : undefined };
    }
    default:
      throw new InternalError(`unvalidated OpType "${vdsp.OpType as string}" from ${file}`);
  }
}

/** One line per step, for reports: what the plan does (not where; the pass adds that). */
export function describeResize(p: PreprocessPlan): string {
  if (!p.resize) return `no resize (target size equals the input ${p.inW}x${p.inH})`;
  const r = p.resize;
  return `${r.kind} resize ${r.fromW}x${r.fromH} -> ${r.toW}x${r.toH}`;
}
