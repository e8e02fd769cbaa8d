/**
 * The build pipeline: config -> model -> passes (each followed by graph.check) -> mod.onnx + mod.json.
 * Nothing is written until every pass has run; the outputs land atomically, and a build folder this build
 * created is removed again if writing fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadBuildConfig, loadVdspParams, processOpsContradictions, type LoadOptions } from './config/load.js';
import type { BuildConfig, VdspParams } from './config/types.js';
import { RebakeError } from '../core/errors.js';
import { checkOutputTarget, ensureDir, readInput, statIfAny, writeFileAtomic } from '../core/fsutil.js';
import { modelStats, type IOInfo } from './inspect.js';
import { decodeModel, ONNX_INPUT, saveModel, type Model } from './ir/model.js';
import { PASSES } from './passes/index.js';
import { runPasses, type PassRecord } from './passes/manager.js';
import { compiledModule } from '../core/paths.js';
import { packageVersion } from '../core/version.js';

export interface Manifest {
  name: string;
  rebake_version: string;
  source: { path: string; sha256: string; bytes: number };
  dtype: string;
  inputs: IOInfo[];
  outputs: IOInfo[];
  passes: PassRecord[];
  params_before: number;
  params_after: number;
  macs_before: number;
  macs_after: number;
  ops_before: Record<string, number>;
  ops_after: Record<string, number>;
  vdsp_params: { file: string; params: VdspParams } | null;
  model_file: string;
  model_bytes: number;
  external_data_file?: string;
  build_seconds: number;
}

export interface BuildOptions extends LoadOptions {
  /** One line per pass, as it finishes, and the passes' own progress lines. */
  progress?: (line: string) => void;
  /** Warnings from the passes (also kept in the manifest); default: to progress as `warning: <line>`. */
  warn?: (line: string) => void;
}

export interface BuildResult {
  manifest: Manifest;
  outDir: string;
  modelPath: string;
  manifestPath: string;
}

/**
 * The sha256 of the checkpoint (about a second of CPU for 500 MB) is computed by a worker thread reading the
 * file on the other core while this thread decodes and runs the passes, which write into the buffer.
 */
function readModelFile(config: BuildConfig): { bytes: Buffer; model: Model; sha256: Hashing } {
  const file = config.frontend.checkpoint;
  const bytes = readInput(file, { ...ONNX_INPUT, at: config.locate('frontend.checkpoint') });
  const sha256 = sha256InWorker(file);
  try {
    return { bytes, model: decodeModel(bytes, file), sha256 };
  } catch (e) {
    sha256.cancel();
    throw e;
  }
}

interface Hashing {
  digest: Promise<string>;
  /** A build that fails stops the worker: it must not outlive the build nor reject unobserved. */
  cancel(): void;
}

function sha256InWorker(file: string): Hashing {
  const w = new Worker(compiledModule(new URL('./sha256-worker.js', import.meta.url)), { workerData: file });
  const digest = new Promise<string>((resolve, reject) => {
    w.once('message', (h: string) => resolve(h));
    w.once('error', reject);
  });
  return {
    digest,
    cancel: () => {
      digest.catch(() => {});
      void w.terminate();
    },
  };
}

/** frontend.shape must name the model's inputs with compatible dims (a symbolic dim accepts any size). */
function checkFrontendShape(config: BuildConfig, model: Model): void {
  const shape = config.frontend.shape;
  if (!shape) return;
  const g = model.graph;
  for (const [name, dims] of Object.entries(shape)) {
    const input = g.inputs.find((i) => i.name === name);
    const loc = config.locate(`frontend.shape.${name}`);
    if (!input) throw new RebakeError('CONFIG_SHAPE', `the model has no input "${name}"; its inputs are: ${g.inputs.map((i) => i.name).join(', ')}`, loc);
    if (!input.shape) continue;
    const same = input.shape.length === dims.length && input.shape.every((d, i) => typeof d !== 'number' || d < 0 || d === dims[i]);
    if (!same) throw new RebakeError('CONFIG_SHAPE', `[${dims.join(', ')}] does not match the model's input shape [${input.shape.join(', ')}]`, loc);
  }
}

export async function runBuild(configFile: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const config = loadBuildConfig(configFile, opts);
  const vdsp = config.vdsp_params ? loadVdspParams(config.vdsp_params) : undefined;
  if (vdsp) for (const line of processOpsContradictions(config, vdsp, config.vdsp_params!)) opts.notice?.(line);
  if (config.backend.dtype === 'int8' && !config.dataset?.path) {
    throw new RebakeError('CONFIG_MISSING_KEY', 'int8 builds calibrate on images: add dataset.path (a folder of calibration images, searched recursively), with dataset.sampler.suffix and get_data_num', config.locate('backend.dtype'));
  }
  for (const name of Object.keys(config.passes)) {
    if (!PASSES.some((p) => p.name === name)) {
      throw new RebakeError('CONFIG_UNKNOWN_PASS', `unknown pass "${name}"; passes: ${PASSES.map((p) => p.name).join(', ')}`, config.locate(`passes.${name}`, 'key'));
    }
  }
  const outDir = path.join(config.workspace.path, config.name);
  // Fail on an unusable workspace before the expensive part, without creating anything.
  checkWritable(outDir);

  const { bytes, model, sha256 } = readModelFile(config);
  try {
    return await passesAndOutputs(config, opts, { bytes, model, sha256: sha256.digest }, vdsp, outDir, t0);
  } catch (e) {
    sha256.cancel();
    throw e;
  }
}

async function passesAndOutputs(
  config: BuildConfig,
  opts: BuildOptions,
  { bytes, model, sha256 }: { bytes: Buffer; model: Model; sha256: Promise<string> },
  vdsp: VdspParams | undefined,
  outDir: string,
  t0: number,
): Promise<BuildResult> {
  checkFrontendShape(config, model);
  const before = modelStats(model);

  const records = await runPasses(model, PASSES, { config, vdsp, vdspFile: config.vdsp_params }, { switches: config.passes, progress: opts.progress, warn: opts.warn });

  const after = modelStats(model);
  const modelPath = path.join(outDir, 'mod.onnx');
  const manifestPath = path.join(outDir, 'mod.json');
  const created = !fs.existsSync(outDir);
  try {
    ensureDir(outDir);
    const saved = saveModel(model, modelPath);
    const manifest: Manifest = {
      name: config.name,
      rebake_version: packageVersion(),
      source: { path: config.frontend.checkpoint, sha256: await sha256, bytes: bytes.byteLength },
      dtype: config.backend.dtype,
      inputs: after.inputs,
      outputs: after.outputs,
      passes: records,
      params_before: before.params,
      params_after: after.params,
      macs_before: before.macs,
      macs_after: after.macs,
      ops_before: before.ops,
      ops_after: after.ops,
      vdsp_params: vdsp && config.vdsp_params ? { file: config.vdsp_params, params: vdsp } : null,
      model_file: 'mod.onnx',
      model_bytes: saved.bytes,
      ...(saved.externalDataFile ? { external_data_file: saved.externalDataFile } : {}),
      build_seconds: 0,
    };
    manifest.build_seconds = Number(((performance.now() - t0) / 1000).toFixed(3));
    writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    return { manifest, outDir, modelPath, manifestPath };
  } catch (e) {
    if (created) fs.rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
}

/** The build folder: no link elsewhere, and creatable (or an existing folder). */
function checkWritable(dir: string): void {
  if (statIfAny(dir, true)?.isSymbolicLink()) {
    throw new RebakeError('OUTPUT_SYMLINK', 'the build folder is a symbolic link: rebake writes builds only into a real folder under workspace.path (remove the link, or point workspace.path at the target)', { file: dir });
  }
  checkOutputTarget(dir, 'folder', 'the build folder <workspace.path>/<name>');
}
