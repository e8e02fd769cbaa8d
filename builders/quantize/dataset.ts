/**
 * Calibration inputs from the YAML's `dataset` (docs/calibration.md):
 *
 * 1. Files: every file under `dataset.path`, searched recursively (so an image2npz output folder or a
 *    class-folder tree works as is; names starting with "." are left out), whose extension equals
 *    `dataset.sampler.suffix` case-insensitively (`JPEG` takes x.JPEG and x.jpeg, not x.jpg; a leading dot
 *    is optional). Without a suffix: jpeg, jpg, png, webp, tif, tiff and npz.
 * 2. Choice (deterministic, the same on every machine): the files sorted by their path relative to
 *    dataset.path ("/" separators, compared byte by byte as UTF-8), then, of N files, for k =
 *    `sampler.get_data_num` < N, the files at positions floor(i * N / k) for i = 0 .. k-1: evenly spaced
 *    from the first, so a class-folder tree gives every part of the tree its share. Fewer than k files: a
 *    warning, and all of them. No get_data_num: all of them.
 * 3. Each file becomes one sample of the model's input (a SampleRecipe, chosen once for the model):
 *    - uint8 input (preprocessing baked in): the image as `rebake run` feeds it, resized on the host to the
 *      input size with the vdsp op's semantics when its size differs (process_ops are not applied: notice);
 *    - float input: dataset.process_ops (process-ops.ts), or the vdsp params on the host when the build has
 *      them but did not bake them; an npz whose input_0 is already a float32 tensor of the sample's shape
 *      is taken as is.
 *    A file that cannot be read or decoded (or is too small for a CenterCrop) is skipped and listed; the
 *    calibration fails when none is left. A sample of the wrong shape is a configuration error.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError, type SourceLocation } from '../../core/errors.js';
import { readInput } from '../../core/fsutil.js';
import { decodeImage } from '../../core/image.js';
import { decodeNpz } from '../../core/npz.js';
import { DataType, dataTypeName } from '../../core/tensor.js';
import type { BuildConfig, VdspParams } from '../config/types.js';
import type { ValueInfo } from '../ir/graph.js';
import { imageAtInputSize, preprocess } from '../preprocess/host.js';
import { applyProcessOps, planProcessOps, sampleShape, toChannelsLast, type Layout, type ProcessPlan } from './process-ops.js';

export const DEFAULT_SUFFIXES = ['jpeg', 'jpg', 'png', 'webp', 'tif', 'tiff', 'npz'];

export interface CalibrationFile {
  /** Absolute path. */
  file: string;
  /** Relative to dataset.path, "/" separators (the sort key, and the name in the manifest's digest). */
  rel: string;
}

export interface CalibrationSelection {
  root: string;
  /** Files that matched the suffix. */
  found: number;
  files: CalibrationFile[];
}

function byteOrder(a: CalibrationFile, b: CalibrationFile): number {
  return Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel));
}

/** Evenly spaced positions floor(i * n / k), i < k, from the start. */
export function evenlySpaced(n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

function walk(root: string, accept: (name: string) => boolean, where: ReturnType<BuildConfig['locate']>): CalibrationFile[] {
  const out: CalibrationFile[] = [];
  const seen = new Set<string>();
  const visit = (dir: string, rel: string) => {
    const real = fs.realpathSync(dir);
    if (seen.has(real)) return; // a symlink loop
    seen.add(real);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new RebakeError('DATASET_UNREADABLE', `cannot read the folder ${dir}: ${(e as Error).message}`, where);
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const isDir = e.isDirectory() || (e.isSymbolicLink() && fs.statSync(full, { throwIfNoEntry: false })?.isDirectory());
      if (isDir) visit(full, r);
      else if (accept(e.name)) out.push({ file: full, rel: r });
    }
  };
  visit(root, '');
  return out;
}

/** The calibration files of the config's dataset, chosen as the header says. */
export function selectCalibrationFiles(config: BuildConfig, warn: (line: string) => void): CalibrationSelection {
  const ds = config.dataset;
  if (!ds) {
    throw new RebakeError('CALIB_NO_DATASET', `${config.backend.dtype} builds calibrate on images: add a dataset (dataset.path: a folder of images, dataset.sampler.suffix, dataset.sampler.get_data_num)`, config.locate('backend.dtype'));
  }
  if (!ds.path) throw new RebakeError('CONFIG_MISSING_KEY', 'missing required key "path" (the folder of calibration images)', config.locate('dataset', 'key'));
  const where = config.locate('dataset.path');
  const st = fs.statSync(ds.path, { throwIfNoEntry: false });
  if (!st) throw new RebakeError('DATASET_MISSING', `no such folder: ${ds.path} (expected a folder of calibration images)`, where);
  if (!st.isDirectory()) throw new RebakeError('DATASET_NOT_FOLDER', `${ds.path} is a file, expected a folder of calibration images`, where);
  const suffix = ds.sampler?.suffix;
  const wanted = suffix ? [suffix.replace(/^\./, '').toLowerCase()] : DEFAULT_SUFFIXES;
  const accept = (name: string) => wanted.includes(path.extname(name).slice(1).toLowerCase());
  const all = walk(ds.path, accept, where).sort(byteOrder);
  const what = suffix ? `with suffix "${suffix}" (dataset.sampler.suffix, any case)` : `with an image or npz suffix (${DEFAULT_SUFFIXES.join(', ')})`;
  if (!all.length) throw new RebakeError('DATASET_EMPTY', `no files ${what} under ${ds.path} (searched recursively)`, where);
  const k = ds.sampler?.get_data_num;
  if (k !== undefined && all.length < k) {
    const loc = config.locate('dataset.sampler.get_data_num');
    warn(`${loc.file}:${loc.line}:${loc.column} dataset.sampler.get_data_num: ${k} files wanted, ${ds.path} has only ${all.length} ${what}; calibrating on all ${all.length}`);
  }
  const files = k === undefined ? all : evenlySpaced(all.length, k).map((i) => all[i]);
  return { root: ds.path, found: all.length, files };
}

/** The model input a calibration sample feeds. */
export interface InputSpec {
  name: string;
  dtype: 'uint8' | 'float32';
  layout: Layout;
  h: number;
  w: number;
  /** A fixed batch size, or undefined when the batch dim is symbolic. */
  fixedBatch?: number;
}

/** How a file becomes a sample (plain data: it is sent to the calibration workers). */
export type SampleRecipe =
  | { kind: 'baked'; input: InputSpec; vdsp?: VdspParams }
  /** `where`: the YAML's process_ops, for a size error found on an image. */
  | { kind: 'process-ops'; input: InputSpec; plan: ProcessPlan; where: SourceLocation }
  | { kind: 'vdsp'; input: InputSpec; vdsp: VdspParams }
  | { kind: 'tensor'; input: InputSpec };

function inputSpecOf(input: ValueInfo, modelFile: string): InputSpec {
  const dims = input.shape;
  const shown = `[${(dims ?? ['?']).join(', ')}]`;
  const bad = (why: string) => new RebakeError('CALIB_INPUT', `calibration feeds images: the model input "${input.name}" ${shown} ${why}`, { file: modelFile });
  if (input.elemType !== DataType.UINT8 && input.elemType !== DataType.FLOAT) throw bad(`is ${dataTypeName(input.elemType)}, expected uint8 or float32`);
  if (!dims || dims.length !== 4) throw bad('is not [N, 3, H, W] or [N, H, W, 3]');
  const fixed = (d: number | string) => typeof d === 'number' && d > 0;
  const layout: Layout | undefined = dims[1] === 3 && fixed(dims[2]) && fixed(dims[3]) ? 'chw' : dims[3] === 3 && fixed(dims[1]) && fixed(dims[2]) ? 'hwc' : undefined;
  if (!layout) throw bad('is not [N, 3, H, W] or [N, H, W, 3] with a fixed height and width');
  const [h, w] = layout === 'chw' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  const batch = fixed(dims[0]) ? (dims[0] as number) : undefined;
  if (batch !== undefined && batch !== 1) throw bad(`has a fixed batch of ${batch}; calibration needs batch 1 or a symbolic batch (pass make-batch-dynamic)`);
  return { name: input.name, dtype: input.elemType === DataType.UINT8 ? 'uint8' : 'float32', layout, h: h as number, w: w as number, fixedBatch: batch };
}

/**
 * Decide once how files feed `input` (the model's only input), checking statically what can be checked:
 * process_ops whose output size or layout is fixed must produce the input's shape.
 */
export function sampleRecipe(config: BuildConfig, input: ValueInfo, vdsp: VdspParams | undefined, notice: (line: string) => void): SampleRecipe {
  const spec = inputSpecOf(input, config.frontend.checkpoint);
  const ops = config.dataset?.process_ops;
  if (spec.dtype === 'uint8') {
    if (ops?.length) {
      const loc = config.locate('dataset.process_ops', 'key');
      notice(`${loc.file}:${loc.line}:${loc.column} dataset.process_ops: not applied: the model takes uint8 images and does its own preprocessing, so calibration feeds the images as rebake run does`);
    }
    return { kind: 'baked', input: spec, vdsp };
  }
  if (ops?.length) {
    const plan = planProcessOps(ops, (i) => config.locate(`dataset.process_ops.${i}`));
    const where = config.locate('dataset.process_ops');
    checkSampleShape(where, spec, plan.layout, plan.size);
    return { kind: 'process-ops', input: spec, plan, where };
  }
  if (vdsp) {
    const { OimageWidth: ow, OimageHeight: oh } = vdsp.OpConfig;
    if (oh !== spec.h || ow !== spec.w) throw new RebakeError('CALIB_SHAPE', `the vdsp params produce ${ow}x${oh} (width x height) tensors, the model input "${spec.name}" takes ${spec.w}x${spec.h}`, { file: config.vdsp_params ?? config.file });
    return { kind: 'vdsp', input: spec, vdsp };
  }
  const suffix = config.dataset?.sampler?.suffix?.replace(/^\./, '').toLowerCase();
  if (suffix !== 'npz') {
    throw new RebakeError('CALIB_NO_PROCESS_OPS', `the model takes float32 input "${input.name}": add dataset.process_ops saying how an image becomes that tensor (e.g. DecodeImage, Resize, CenterCrop, Normalize, ToTensor), or calibrate on npz files holding the float32 tensors`, config.locate('dataset', 'key'));
  }
  return { kind: 'tensor', input: spec };
}

/** process_ops output [size, layout] vs the model input; `file` names the image when the size came from it. */
function checkSampleShape(where: SourceLocation, spec: InputSpec, layout: Layout, size: [number, number] | undefined, file?: string): void {
  if (layout === spec.layout && (!size || (size[0] === spec.h && size[1] === spec.w))) return;
  const got = size ? `[${sampleShape(layout, size[0], size[1]).join(', ')}]` : `a ${layout === 'chw' ? 'channels-first' : 'channels-last'} tensor`;
  const want = `[${sampleShape(spec.layout, spec.h, spec.w).join(', ')}]`;
  const hint = layout !== spec.layout ? (spec.layout === 'chw' ? ' (add ToTensor: it makes the tensor channels first)' : ' (remove ToTensor: the model takes channels last)') : ' (sizes are [height, width])';
  throw new RebakeError('CALIB_SHAPE', `process_ops produce ${got}${file ? ` for ${file}` : ''}, but the model input "${spec.name}" takes ${want} per sample${hint}`, where);
}

export type LoadedSample = { data: Float32Array | Uint8Array; sha256: string } | { skip: string };

/** Codes of per-file problems: the file is skipped and listed; anything else stops the calibration. */
const SKIPPED_CODES = /^(IMAGE_|NPZ_|NPY_|CALIB_IMAGE_)/;

/** One file -> one sample in the input's layout and dtype, or why it is skipped. */
export async function loadSample(f: CalibrationFile, recipe: SampleRecipe): Promise<LoadedSample> {
  let bytes: Buffer;
  try {
    bytes = readInput(f.file, { code: 'CALIB_IMAGE', what: 'a calibration image' });
  } catch (e) {
    if (e instanceof RebakeError) return { skip: e.detail };
    throw e;
  }
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  try {
    return { data: await sampleOf(f.file, bytes, recipe), sha256 };
  } catch (e) {
    if (e instanceof RebakeError && SKIPPED_CODES.test(e.code)) return { skip: e.detail };
    throw e;
  }
}

async function sampleOf(file: string, bytes: Buffer, recipe: SampleRecipe): Promise<Float32Array | Uint8Array> {
  const spec = recipe.input;
  const item = path.extname(file).toLowerCase() === '.npz' ? npzItem(bytes, file) : { image: await decodeImage(bytes, file) };
  if ('tensor' in item) {
    const want = sampleShape(spec.layout, spec.h, spec.w);
    if (spec.dtype !== 'float32' || recipe.kind === 'process-ops') {
      throw new RebakeError('CALIB_IMAGE_DTYPE', `input_0 is a float32 tensor, but ${spec.dtype === 'uint8' ? 'the model takes uint8 images' : 'process_ops take uint8 images'}`, { file });
    }
    if (item.tensor.shape.join() !== want.join()) throw new RebakeError('CALIB_IMAGE_SHAPE', `input_0 is a float32 tensor of shape [${item.tensor.shape.join(', ')}], the model takes [${want.join(', ')}] per sample`, { file });
    return item.tensor.data;
  }
  const { data, shape } = item.image;
  const [, h, w] = shape;
  switch (recipe.kind) {
    case 'baked': {
      const u8 = imageAtInputSize(data, 3, h, w, spec.h, spec.w, recipe.vdsp);
      return spec.layout === 'chw' ? u8 : toChannelsLast(u8, spec.h, spec.w);
    }
    case 'process-ops': {
      const out = applyProcessOps(data, h, w, recipe.plan, file);
      if (!recipe.plan.size) checkSampleShape(recipe.where, spec, recipe.plan.layout, [out.h, out.w], file);
      return out.data;
    }
    case 'vdsp': {
      const out = preprocess(data, 3, h, w, recipe.vdsp, undefined, 0, file);
      return spec.layout === 'chw' ? out : toChannelsLast(out, spec.h, spec.w);
    }
    case 'tensor':
      throw new RebakeError('CALIB_NO_PROCESS_OPS', 'input_0 is a uint8 image, but the model takes float32 input and the dataset has no process_ops to convert it', { file });
  }
}

/** An npz's input_0: a uint8 RGB image [3,H,W] (image2npz output) or a float32 tensor. */
function npzItem(bytes: Buffer, file: string): { image: { data: Uint8Array; shape: number[] } } | { tensor: { data: Float32Array; shape: number[] } } {
  const a = decodeNpz(bytes, file).get('input_0');
  if (!a) throw new RebakeError('NPZ_NO_INPUT', 'no array "input_0" (image2npz writes the image as input_0)', { file });
  const shape = a.shape.length === 4 && a.shape[0] === 1 ? a.shape.slice(1) : a.shape;
  if (a.dtype === 'float32') return { tensor: { data: a.data as Float32Array, shape } };
  if (a.dtype !== 'uint8') throw new RebakeError('NPZ_DTYPE', `input_0 is ${a.dtype}, expected a uint8 image or a float32 tensor`, { file });
  if (shape.length !== 3 || shape[0] !== 3) throw new RebakeError('NPZ_SHAPE', `input_0 has shape [${a.shape.join(', ')}], expected a uint8 RGB image [3, H, W]`, { file });
  return { image: { data: a.data as Uint8Array, shape } };
}
