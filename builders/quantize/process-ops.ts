/**
 * The YAML's `dataset.process_ops` on the host: a decoded uint8 RGB planar image [3,H,W] -> the float32
 * tensor a float-input model reads. docs/calibration.md is the user-facing description; in short:
 *
 * - DecodeImage: the file is decoded to uint8 RGB (core/image.ts: what OpenCV's imread + BGR2RGB gives;
 *   an npz holds that image as input_0). Implicit when absent; only allowed first.
 * - Resize {size: [height, width]}: a plain resize to that size (aspect ratio not kept), OpenCV
 *   INTER_LINEAR on uint8, pixel-exact (builders/preprocess/host.ts resizeU8 BILINEAR_CV).
 * - CenterCrop {crop_size: [height, width]}: top = floor((H - height) / 2), left = floor((W - width) / 2);
 *   an image smaller than the crop is skipped (listed).
 * - Normalize {mean, std}: per channel in float32, (x / 255 - mean) / std when mean and std are in 0..1 (the
 *   zoo's configs: 0.485, 0.229, ...), (x - mean) / std when any of them is above 1 (0..255 values such as
 *   123.675). Without Normalize the tensor is the uint8 values as float32.
 * - ToTensor: channels first ([3,H,W]); without it the tensor is channels last ([H,W,3]). No scaling.
 * - CvtColor {code}: BGR2RGB and RGB2BGR swap the first and last channel (the image is RGB after
 *   DecodeImage, so either code makes it BGR); NO_CHANGE does nothing.
 * Resize and CenterCrop work on the uint8 image, so they must come before Normalize.
 */
import { InternalError, RebakeError, type SourceLocation } from '../../core/errors.js';
import type { ProcessOp } from '../config/types.js';
import { resizeU8 } from '../preprocess/host.js';

export type Layout = 'chw' | 'hwc';

type Step =
  | { op: 'resize'; h: number; w: number }
  | { op: 'crop'; h: number; w: number; at: number }
  | { op: 'normalize'; mean: number[]; std: number[]; scale255: boolean }
  | { op: 'swap' };

export interface ProcessPlan {
  steps: Step[];
  layout: Layout;
  /** [height, width] of the result when a Resize or CenterCrop fixes it; otherwise the image's own size. */
  size?: [number, number];
}

/** Check the op order and compile the (schema-checked) op list; `at(i)` locates op i in the YAML. */
export function planProcessOps(ops: ProcessOp[], at: (i: number) => SourceLocation): ProcessPlan {
  const steps: Step[] = [];
  let layout: Layout = 'hwc';
  let size: [number, number] | undefined;
  let normalized = false;
  ops.forEach((op, i) => {
    const pair = (key: string) => op[key] as [number, number];
    switch (op.type) {
      case 'DecodeImage':
        if (i !== 0) throw new RebakeError('CALIB_PROCESS_OPS', 'DecodeImage must be the first op (images are always decoded first)', at(i));
        break;
      case 'Resize':
      case 'CenterCrop': {
        if (normalized) throw new RebakeError('CALIB_PROCESS_OPS', `${op.type} must come before Normalize (it works on the uint8 image)`, at(i));
        const [h, w] = pair(op.type === 'Resize' ? 'size' : 'crop_size');
        steps.push(op.type === 'Resize' ? { op: 'resize', h, w } : { op: 'crop', h, w, at: i });
        size = [h, w];
        break;
      }
      case 'Normalize': {
        if (normalized) throw new RebakeError('CALIB_PROCESS_OPS', 'a second Normalize (only one is allowed)', at(i));
        const mean = op.mean as number[];
        const std = op.std as number[];
        steps.push({ op: 'normalize', mean, std, scale255: ![...mean, ...std].some((v) => v > 1) });
        normalized = true;
        break;
      }
      case 'ToTensor':
        layout = 'chw';
        break;
      case 'CvtColor':
        if (op.code !== 'NO_CHANGE') steps.push({ op: 'swap' });
        break;
      default:
        // The config schema allows only the ops above.
        throw new InternalError(`process_ops: unknown op type "${String(op.type)}"`);
    }
  });
  return { steps, layout, size };
}

/** Shape of one processed sample in `layout`. */
export function sampleShape(layout: Layout, h: number, w: number): number[] {
  return layout === 'chw' ? [3, h, w] : [h, w, 3];
}

/** Channels-first planes -> channels-last pixels. */
export function toChannelsLast<T extends Uint8Array | Float32Array>(planar: T, h: number, w: number): T {
  const out = new (planar.constructor as new (n: number) => T)(planar.length);
  const n = h * w;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[j] = planar[i];
    out[j + 1] = planar[n + i];
    out[j + 2] = planar[2 * n + i];
  }
  return out;
}

/**
 * Run the plan on a uint8 RGB planar image [3,h,w]. Returns the float32 sample in the plan's layout and its
 * size; throws CALIB_IMAGE_TOO_SMALL (the caller skips the image) when a crop does not fit.
 */
export function applyProcessOps(image: Uint8Array, h: number, w: number, plan: ProcessPlan, file: string): { data: Float32Array; h: number; w: number } {
  let u8 = image;
  let f32: Float32Array | undefined;
  let ch = h;
  let cw = w;
  for (const s of plan.steps) {
    switch (s.op) {
      case 'resize':
        u8 = resizeU8(u8, 3, ch, cw, s.h, s.w, 'BILINEAR_CV');
        ch = s.h;
        cw = s.w;
        break;
      case 'crop': {
        if (s.h > ch || s.w > cw) throw new RebakeError('CALIB_IMAGE_TOO_SMALL', `the image is ${cw}x${ch} (width x height) at process_ops[${s.at}], smaller than the CenterCrop ${s.w}x${s.h}`, { file });
        const top = Math.floor((ch - s.h) / 2);
        const left = Math.floor((cw - s.w) / 2);
        const out = new Uint8Array(3 * s.h * s.w);
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < s.h; y++) {
            const from = (c * ch + top + y) * cw + left;
            out.set(u8.subarray(from, from + s.w), (c * s.h + y) * s.w);
          }
        }
        u8 = out;
        ch = s.h;
        cw = s.w;
        break;
      }
      case 'normalize':
        f32 = normalize(u8, ch * cw, s);
        break;
      case 'swap':
        if (f32) swapOuterPlanes(f32, ch * cw);
        else {
          u8 = u8 === image ? Uint8Array.from(u8) : u8;
          swapOuterPlanes(u8, ch * cw);
        }
        break;
    }
  }
  const planar = f32 ?? Float32Array.from(u8);
  return { data: plan.layout === 'chw' ? planar : toChannelsLast(planar, ch, cw), h: ch, w: cw };
}

/** float32 arithmetic, operation by operation, as numpy does on float32 arrays. */
function normalize(u8: Uint8Array, plane: number, s: Extract<Step, { op: 'normalize' }>): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = f(s.mean[c]);
    const std = f(s.std[c]);
    const o = c * plane;
    for (let i = 0; i < plane; i++) {
      const x = s.scale255 ? f(u8[o + i] / 255) : u8[o + i];
      out[o + i] = f(f(x - mean) / std);
    }
  }
  return out;
}

function swapOuterPlanes(a: Uint8Array | Float32Array, plane: number): void {
  for (let i = 0; i < plane; i++) {
    const t = a[i];
    a[i] = a[2 * plane + i];
    a[2 * plane + i] = t;
  }
}
