/**
 * The two host-side image operations the runner needs, in one place so the implementation can be swapped:
 * they come from runtime/preprocess.ts (vdsp semantics, pixel-exact BILINEAR_CV).
 */
import { RebakeError } from '../builders/errors.js';
import type { ResizeType, VdspParams } from '../builders/config/types.js';

/** uint8 planar [c,h,w] -> uint8 planar [c,oh,ow]. */
export function resizeImageU8(_img: Uint8Array, _c: number, _h: number, _w: number, _oh: number, _ow: number, _type: ResizeType): Uint8Array {
  throw new RebakeError('PREPROCESS_UNAVAILABLE', 'host-side resize is not available yet (runtime/preprocess.ts); give images of the model input size');
}

/** uint8 planar [c,h,w] -> float32 [c,OimageHeight,OimageWidth] per the vdsp params. */
export function preprocessImage(_img: Uint8Array, _c: number, _h: number, _w: number, _vdsp: VdspParams): Float32Array {
  throw new RebakeError('PREPROCESS_UNAVAILABLE', 'host-side vdsp preprocessing is not available yet (runtime/preprocess.ts)');
}
