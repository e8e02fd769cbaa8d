/**
 * What `-m` names, and how the model's input is fed. `-m` accepts the zoo's build prefix
 * (`<workspace>/<name>/mod`, as vamp takes it), the build folder, or an .onnx file. The build manifest
 * (`mod.json`) beside the model supplies the vdsp params when the model was built without baking them in.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { VdspParams } from '../builders/config/types.js';
import { RebakeError } from '../core/errors.js';
import { readInputText } from '../core/fsutil.js';
import type { InputDtype, InputPlan, ModelInfo } from './protocol.js';

export interface ResolvedModel {
  /** The .onnx file. */
  onnx: string;
  /** vdsp params recorded by `rebake build`, if any. */
  manifestVdsp?: { file: string; params: VdspParams };
}

function isFile(p: string): boolean {
  return fs.existsSync(p) && fs.statSync(p).isFile();
}

export function resolveModel(arg: string): ResolvedModel {
  let onnx: string;
  if (arg.endsWith('.onnx')) {
    if (!fs.existsSync(arg)) throw new RebakeError('MODEL_MISSING', 'no such file (expected an ONNX model)', { file: arg });
    if (!isFile(arg)) throw new RebakeError('MODEL_MISSING', 'is a folder (expected an ONNX model file)', { file: arg });
    onnx = arg;
  } else if (fs.existsSync(arg) && fs.statSync(arg).isDirectory()) {
    onnx = path.join(arg, 'mod.onnx');
    if (!isFile(onnx)) throw new RebakeError('MODEL_MISSING', 'this folder holds no mod.onnx (expected a rebake build folder)', { file: arg });
  } else if (isFile(`${arg}.onnx`)) {
    onnx = `${arg}.onnx`;
  } else {
    throw new RebakeError('MODEL_MISSING', `no model here: expected ${arg}.onnx (a build prefix such as deploy_weights/<name>/mod), a build folder, or an .onnx file`, { file: arg });
  }
  const manifestFile = onnx.replace(/\.onnx$/, '.json');
  if (!isFile(manifestFile)) return { onnx };
  const text = readInputText(manifestFile, { code: 'MANIFEST', what: 'the build manifest (mod.json)' });
  let manifest: { vdsp_params?: { file: string; params: VdspParams } | null };
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new RebakeError('MANIFEST_CORRUPT', `cannot read the build manifest: ${(e as Error).message}`, { file: manifestFile });
  }
  return { onnx, manifestVdsp: manifest.vdsp_params ?? undefined };
}

export interface PlanOptions {
  batch: number;
  /** `-s`: [C, H, W] for the dims the model leaves open. */
  shape?: number[];
  /** `--vdsp_params`. */
  vdsp?: VdspParams;
  /** Where the vdsp params came from, for messages. */
  vdspFile?: string;
  /** The vdsp params the build recorded in mod.json (baked into a uint8 model). */
  recorded?: { file: string; params: VdspParams };
  warn(line: string): void;
}

/** The first key where two vdsp params differ, as `OpConfig.Mean: [..] vs [..]`, or undefined. */
function vdspDifference(a: VdspParams, b: VdspParams): string | undefined {
  if (a.OpType !== b.OpType) return `OpType: ${a.OpType} vs ${b.OpType}`;
  const x = a.OpConfig as unknown as Record<string, unknown>;
  const y = b.OpConfig as unknown as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
    if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) return `OpConfig.${k}: ${JSON.stringify(x[k]) ?? 'absent'} vs ${JSON.stringify(y[k]) ?? 'absent'}`;
  }
  return undefined;
}

const DIM_NAMES = ['batch', 'channels', 'height', 'width'];

/** One input batch must fit a single typed array and ORT tensor, with room to spare. */
const MAX_BATCH_BYTES = 2 ** 31;

/** Decide how to feed the model: input dtype and [C,H,W], samples per run, padding. */
export function planInput(info: ModelInfo, file: string, opts: PlanOptions): InputPlan {
  if (info.inputs.length !== 1) {
    throw new RebakeError('MODEL_INPUTS', `the runner feeds single-input image models; this one has ${info.inputs.length} inputs (${info.inputs.map((i) => i.name).join(', ')})`, { file });
  }
  const input = info.inputs[0];
  if (!['uint8', 'float32', 'float16'].includes(input.dtype)) {
    throw new RebakeError('MODEL_INPUTS', `input "${input.name}" is ${input.dtype}; the runner feeds uint8 images or float32/float16 tensors`, { file });
  }
  if (input.shape.length !== 4) {
    throw new RebakeError('MODEL_INPUTS', `input "${input.name}" has shape [${input.shape.join(', ')}]; the runner feeds [N, C, H, W] images`, { file });
  }
  const dims: number[] = [];
  for (let d = 1; d < 4; d++) {
    const m = input.shape[d];
    const s = opts.shape?.[d - 1];
    if (typeof m === 'number') {
      if (s !== undefined && s !== m) opts.warn(`-s [${opts.shape!.join(',')}]: the model's ${DIM_NAMES[d]} is fixed at ${m}; using ${m}`);
      dims.push(m);
    } else if (s !== undefined) dims.push(s);
    else throw new RebakeError('MODEL_INPUTS', `input "${input.name}" has a dynamic ${DIM_NAMES[d]} (${m}); give the input size with -s [C,H,W]`, { file });
  }
  const [c, h, w] = dims;
  const dtype = input.dtype as InputDtype;
  const fixed = typeof input.shape[0] === 'number' ? (input.shape[0] as number) : undefined;
  let batch = opts.batch;
  if (fixed !== undefined && fixed !== batch) {
    opts.warn(`-b ${batch}: the model's batch size is fixed at ${fixed}; running ${fixed} sample(s) per call`);
    batch = fixed;
  }
  const bytes = batch * c * h * w * (dtype === 'uint8' ? 1 : dtype === 'float16' ? 2 : 4);
  if (bytes > MAX_BATCH_BYTES) {
    throw new RebakeError('BATCH_TOO_LARGE', `-b ${batch} of [${c}, ${h}, ${w}] ${dtype} is ${(bytes / 2 ** 30).toFixed(1)} GiB per run() call, over the limit of ${MAX_BATCH_BYTES / 2 ** 30} GiB; use a smaller -b`, { file });
  }
  // A uint8 model has the normalization built in: its vdsp params only choose the host resize flavour, and
  // other params than the baked ones would resize the images differently from what the model then does.
  const rec = opts.recorded;
  const diff = dtype === 'uint8' && opts.vdsp && rec ? vdspDifference(opts.vdsp, rec.params) : undefined;
  if (diff) {
    throw new RebakeError('VDSP_MISMATCH', `these params differ from the preprocessing baked into the model (${rec!.file}, recorded in its mod.json) at ${diff}; leave out --vdsp_params, or rebuild the model with these params`, { file: opts.vdspFile ?? 'vdsp params' });
  }
  const vdsp = opts.vdsp ?? rec?.params;
  const vdspFile = opts.vdsp ? opts.vdspFile : rec?.file;
  if (vdsp && dtype !== 'uint8') {
    const o = vdsp.OpConfig;
    if (o.OimageHeight !== h || o.OimageWidth !== w) {
      throw new RebakeError('VDSP_SIZE', `the vdsp params produce ${o.OimageWidth}x${o.OimageHeight} images but the model input is ${w}x${h}`, { file: vdspFile ?? file });
    }
  }
  return { name: input.name, dtype, batch, fixedBatch: fixed !== undefined, c, h, w, vdsp };
}
