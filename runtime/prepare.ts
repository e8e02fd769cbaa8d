/**
 * npz image -> one row of the model's input batch, on the host:
 * - uint8 model (preprocessing baked in): the uint8 image, resized on the host first when its size differs
 *   from the model input (vdsp BILINEAR_CV semantics, as the DSP would resize it);
 * - float model: vdsp preprocessing on the host when params are known (a uint8 image without them is refused);
 *   float inputs are taken as already-preprocessed tensors and must have the model's size.
 * Every check that can fail on user data throws a RebakeError naming the file.
 */
import { RebakeError } from '../core/errors.js';
import { floatToHalf, halfToFloat } from '../core/tensor.js';
import type { NpyArray } from '../core/npz.js';
import { imageAtInputSize, preprocess } from '../builders/preprocess/host.js';
import type { InputPlan } from './protocol.js';

export type InputData = Uint8Array | Float32Array | Uint16Array;

export function allocBatch(plan: InputPlan, rows: number): InputData {
  const n = rows * plan.c * plan.h * plan.w;
  return plan.dtype === 'uint8' ? new Uint8Array(n) : plan.dtype === 'float32' ? new Float32Array(n) : new Uint16Array(n);
}

/** The image of an npz: its `input_0`, checked to be a [C,H,W] (or [1,C,H,W]) uint8/float array. */
export function imageOf(arrays: Map<string, NpyArray>, file: string, plan: InputPlan): NpyArray {
  const a = arrays.get('input_0');
  const loc = { file, path: 'input_0' };
  if (!a) {
    const found = [...arrays.keys()];
    throw new RebakeError('INPUT_MISSING_KEY', `no array "input_0" (found: ${found.length ? found.join(', ') : 'none'}); image2npz writes the image as input_0`, { file });
  }
  const shape = a.shape.length === 4 && a.shape[0] === 1 ? a.shape.slice(1) : a.shape;
  if (!['uint8', 'float32', 'float16'].includes(a.dtype)) {
    throw new RebakeError('INPUT_DTYPE', `dtype ${a.dtype} is not supported (expected uint8 image, or float32/float16 tensor)`, loc);
  }
  if (shape.length !== 3) throw new RebakeError('INPUT_SHAPE', `shape [${a.shape.join(', ')}] is not an image; expected [C, H, W] (channels first)`, loc);
  if (shape[0] !== plan.c) {
    const hwc = shape[2] === plan.c ? ` (it looks like H, W, C: transpose to C, H, W)` : '';
    throw new RebakeError('INPUT_CHANNELS', `${shape[0]} channels in shape [${a.shape.join(', ')}], the model takes ${plan.c}${hwc}`, loc);
  }
  if (shape.includes(0)) throw new RebakeError('INPUT_SHAPE', `shape [${a.shape.join(', ')}] has a zero dimension: the image is empty`, loc);
  // Un-normalized pixels must never reach a model that expects normalized input: plausible outputs, all wrong.
  if (a.dtype === 'uint8' && plan.dtype !== 'uint8' && !plan.vdsp) {
    throw new RebakeError('INPUT_NOT_PREPROCESSED', `a uint8 image, but the model takes ${plan.dtype} (normalized) input and no preprocessing is known for it: give --vdsp_params <params.json> to preprocess on the host, or build the model with vdsp_params to bake the preprocessing in`, loc);
  }
  if (plan.dtype === 'uint8' && a.dtype !== 'uint8') {
    throw new RebakeError('INPUT_DTYPE', `dtype ${a.dtype}, but the model takes uint8 images (its preprocessing is built in)`, loc);
  }
  if (a.dtype !== 'uint8' && (shape[1] !== plan.h || shape[2] !== plan.w)) {
    throw new RebakeError('INPUT_SHAPE', `a ${a.dtype} tensor of shape [${a.shape.join(', ')}] must already have the model's size [${plan.c}, ${plan.h}, ${plan.w}] (only uint8 images are resized)`, loc);
  }
  return { dtype: a.dtype, shape, data: a.data };
}

/** Write the model input for `img` (from `file`) into row `row` of `out`. */
export function prepareRow(img: NpyArray, file: string, plan: InputPlan, out: InputData, row: number): void {
  const [c, h, w] = img.shape;
  const size = plan.c * plan.h * plan.w;
  const dst = out.subarray(row * size, (row + 1) * size);
  if (img.dtype !== 'uint8') {
    if (img.dtype === 'float16' && plan.dtype === 'float16') dst.set(img.data as Uint16Array);
    else store(img.dtype === 'float16' ? Float32Array.from(img.data as Uint16Array, halfToFloat) : (img.data as Float32Array), plan, dst);
    return;
  }
  const u8 = img.data as Uint8Array;
  if (plan.dtype === 'float32' && plan.vdsp) preprocess(u8, c, h, w, plan.vdsp, out as Float32Array, row * size, file);
  else if (plan.vdsp && plan.dtype === 'float16') store(preprocess(u8, c, h, w, plan.vdsp, undefined, 0, file), plan, dst);
  else store(imageAtInputSize(u8, c, h, w, plan.h, plan.w, plan.vdsp), plan, dst);
}

function store(src: Uint8Array | Float32Array, plan: InputPlan, dst: InputData): void {
  if (plan.dtype === 'float16') {
    for (let i = 0; i < src.length; i++) dst[i] = floatToHalf(src[i]);
  } else dst.set(src);
}

/** A deterministic batch of synthetic inputs for performance mode (seeded, so every run feeds the same data). */
export function syntheticBatch(plan: InputPlan): InputData {
  const out = allocBatch(plan, plan.batch);
  let s = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    const u = s / 4294967296;
    out[i] = plan.dtype === 'uint8' ? Math.floor(u * 256) : plan.dtype === 'float32' ? u * 2 - 1 : floatToHalf(u * 2 - 1);
  }
  return out;
}
