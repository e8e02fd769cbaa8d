/**
 * Calibration statistics: run the float model on onnxruntime-node with the tensors to calibrate added as
 * graph outputs, in worker threads (one session each, one intra-op thread each by default: the way
 * `rebake run` uses the cores), each worker folding the activations into statistics as they come out.
 *
 *   collectStatistics(model, tensorNames, inputs, { threads, batch, bins, histograms, progress, onProgress })
 *     -> { tensors: Map<name, TensorStats>, samples, skipped, files }
 *
 * - model: a Model (IR) or encoded ModelProto bytes; it is not modified. The calibration copy is the encoded
 *   model followed by a second ModelProto holding only `graph.output` entries: protobuf merges repeated
 *   fields of a message that appears twice, so this appends outputs without re-encoding the weights.
 * - tensorNames: node outputs or graph inputs (the latter are taken from the feed), float32.
 * - inputs: a CalibrationSet (files chosen by dataset.ts and how each becomes a sample; the workers read
 *   and prepare them, `batch` per run) or an array of ready feeds (one run each).
 * - Two passes over the inputs: min/max, then (histograms: true, the default; every calibrate_mode but max
 *   needs it) a fixed-bin histogram over the first pass's range. Fixing the bins before counting makes the
 *   result independent of batch order, batch size and thread count (stats.ts).
 * - files (CalibrationSet only): how many files went in and one sha256 over them: the sha256 of the text
 *   `<sha256 of the file>  <path relative to dataset.path>\n` per file in selection order (what
 *   `sha256sum` prints), so a manifest names exactly the images a build was calibrated on.
 * Errors: a worker's RebakeError (bad data that stops the calibration) is re-thrown as is; every file
 * skipped for being unreadable leaves the set: CALIB_NO_SAMPLES when none is left.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import onnxProto from 'onnx-proto';
import { InternalError, RebakeError, type SourceLocation } from '../../core/errors.js';
import { compiledModule } from '../../core/paths.js';
import { Progress } from '../../core/progress.js';
import { DataType, dataTypeName } from '../../core/tensor.js';
import { decodeModel, encodeModel, type Model } from '../ir/model.js';
import type { CalibrationFile, SampleRecipe } from './dataset.js';
import type { FeedTensor, FromWorker, ToWorker, WorkerInit } from './calibrate-protocol.js';
import { DEFAULT_BINS, emptyStats, mergeStats, type TensorStats } from './stats.js';

export type { FeedTensor } from './calibrate-protocol.js';
export type Feed = Record<string, FeedTensor>;

export interface CalibrationSet {
  files: CalibrationFile[];
  recipe: SampleRecipe;
  /** Where the files came from (dataset.path in the YAML), for the error when none can be used. */
  where?: SourceLocation;
}

export interface CollectOptions {
  /** Worker threads (one session each); default: the number of cores, at most one per unit of work. */
  threads?: number;
  /** Intra-op threads per session; default max(1, floor(cores / threads)). */
  intraThreads?: number;
  /** Samples per run() for a CalibrationSet; default 8, or 1 when the model's batch is fixed at 1. */
  batch?: number;
  /** Histogram bins of the larger side (stats.ts); default 2048. */
  bins?: number;
  /** Run the histogram pass (default true). */
  histograms?: boolean;
  /** Draw a progress bar on stderr when it is a terminal. */
  progress?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface CollectedStatistics {
  tensors: Map<string, TensorStats>;
  /** Samples that went through each pass. */
  samples: number;
  /** Files left out (unreadable, undecodable, too small), with why. */
  skipped: { file: string; reason: string }[];
  files?: { count: number; sha256: string };
}

interface Unit {
  id: number;
  files?: CalibrationFile[];
  feed?: Feed;
  samples: number;
}

/** The compiled worker next to this module (dist/), also when this module runs from the sources (vitest). */
const workerUrl = () => compiledModule(new URL('./calibrate-worker.js', import.meta.url));

/** Check the names against the model; split graph inputs from node outputs. */
function planOutputs(model: Model, names: string[]): { inputNames: string[]; fetch: string[]; outputs: onnxProto.onnx.IValueInfoProto[] } {
  const g = model.graph;
  const inputNames: string[] = [];
  const fetch: string[] = [];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (const n of new Set(names)) {
    if (g.initializers.has(n) && !g.isGraphInput(n)) throw new InternalError(`calibration: "${n}" is a weight, not an activation`);
    if (g.isGraphInput(n)) {
      inputNames.push(n);
      continue;
    }
    if (!g.producer(n)) throw new InternalError(`calibration: the model has no tensor "${n}"`);
    const t = g.valueType(n)?.elemType;
    if (t !== undefined && t !== DataType.FLOAT) throw new InternalError(`calibration: "${n}" is ${dataTypeName(t)}, only float32 tensors are calibrated`);
    fetch.push(n);
    // Untyped: ORT takes the type it infers. Existing graph outputs are fetched as they are.
    if (!g.isGraphOutput(n)) outputs.push({ name: n });
  }
  return { inputNames, fetch, outputs };
}

function withOutputs(bytes: Uint8Array, outputs: onnxProto.onnx.IValueInfoProto[]): SharedArrayBuffer {
  const extra = onnxProto.onnx.ModelProto.encode({ graph: { output: outputs } }).finish();
  const shared = new SharedArrayBuffer(bytes.byteLength + extra.byteLength);
  const view = new Uint8Array(shared);
  view.set(bytes);
  view.set(extra, bytes.byteLength);
  return shared;
}

export async function collectStatistics(model: Model | Uint8Array, tensorNames: string[], inputs: CalibrationSet | Feed[], opts: CollectOptions = {}): Promise<CollectedStatistics> {
  const ir = model instanceof Uint8Array ? decodeModel(model, '<calibration model>') : model;
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const { inputNames, fetch, outputs } = planOutputs(ir, tensorNames);
  const set = Array.isArray(inputs) ? undefined : inputs;
  const batch = set ? (set.recipe.input.fixedBatch === 1 ? 1 : Math.max(1, opts.batch ?? 8)) : 1;
  const makeUnits = (files?: CalibrationFile[]): Unit[] => {
    if (!set) return (inputs as Feed[]).map((feed, id) => ({ id, feed, samples: Object.values(feed)[0]?.dims[0] ?? 1 }));
    const units: Unit[] = [];
    for (let i = 0; i < files!.length; i += batch) units.push({ id: units.length, files: files!.slice(i, i + batch), samples: Math.min(batch, files!.length - i) });
    return units;
  };
  let units = makeUnits(set?.files);
  if (!units.length) throw new InternalError('calibration: no inputs');
  const cores = os.availableParallelism();
  const threads = Math.max(1, Math.min(opts.threads ?? cores, units.length));
  const init: WorkerInit = {
    model: withOutputs(bytes, outputs),
    names: [...new Set(tensorNames)],
    inputNames,
    fetch,
    intraThreads: opts.intraThreads ?? Math.max(1, Math.floor(cores / threads)),
    bins: opts.bins ?? DEFAULT_BINS,
    recipe: set?.recipe,
  };
  const histograms = opts.histograms ?? true;
  const perPass = units.reduce((a, u) => a + u.samples, 0);
  const total = perPass * (histograms ? 2 : 1);
  const bar = new Progress(total, 'img', opts.progress ?? false);
  let done = 0;
  const tick = (n: number) => {
    done += n;
    bar.tick(n);
    opts.onProgress?.(done, total);
  };
  const pool = await WorkerPool.start(workerUrl(), init, threads);
  try {
    const first = await pool.pass(units, undefined, tick);
    const skipped = first.skipped;
    const tensors = first.stats;
    let samples = first.samples;
    if (!samples) {
      throw new RebakeError('CALIB_NO_SAMPLES', `none of the ${perPass} calibration inputs could be used: ${skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`).join('; ')}${skipped.length > 3 ? `; and ${skipped.length - 3} more` : ''}`, set?.where);
    }
    let files: CollectedStatistics['files'];
    if (set) {
      const bad = new Set(skipped.map((s) => s.file));
      const good = set.files.filter((f) => !bad.has(f.file));
      const hash = crypto.createHash('sha256');
      for (const f of good) hash.update(`${first.hashes.get(f.file)}  ${f.rel}\n`);
      files = { count: good.length, sha256: hash.digest('hex') };
      units = makeUnits(good);
    }
    if (histograms) {
      const layouts: Record<string, { min: number; max: number }> = {};
      for (const [n, s] of tensors) if (s.count) layouts[n] = { min: s.min, max: s.max };
      const second = await pool.pass(units, layouts, tick);
      for (const [n, s] of second.stats) tensors.get(n)!.histogram = s.histogram;
      samples = second.samples;
    }
    return { tensors, samples, skipped, files };
  } finally {
    bar.clear();
    await pool.close();
  }
}

interface PassResult {
  stats: Map<string, TensorStats>;
  samples: number;
  skipped: { file: string; reason: string }[];
  hashes: Map<string, string>;
}

/** The worker threads; a pass hands units out on demand, then gathers and merges the workers' statistics. */
class WorkerPool {
  private constructor(
    private readonly workers: Worker[],
    private readonly names: string[],
  ) {}

  static async start(url: URL, init: WorkerInit, n: number): Promise<WorkerPool> {
    const workers = Array.from({ length: n }, () => new Worker(url, { workerData: init }));
    const pool = new WorkerPool(workers, init.names);
    try {
      await Promise.all(workers.map((w) => pool.next(w, (m) => m.type === 'ready')));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** The worker's next message that `accept`s; a worker error or exit rejects. */
  private next(w: Worker, accept: (m: FromWorker) => boolean): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'error') {
          cleanup();
          reject(m.code === 'INTERNAL' ? new InternalError(`calibration worker: ${m.detail}`) : new RebakeError(m.code, m.detail, m.location));
        } else if (accept(m)) {
          cleanup();
          resolve(m);
        }
      };
      const onError = (e: Error) => {
        cleanup();
        reject(new InternalError(`calibration worker died: ${e.stack ?? e.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new InternalError(`calibration worker exited (code ${code})`));
      };
      const cleanup = () => {
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.once('error', onError);
      w.once('exit', onExit);
    });
  }

  async pass(units: Unit[], layouts: Record<string, { min: number; max: number }> | undefined, tick: (n: number) => void): Promise<PassResult> {
    const result: PassResult = { stats: new Map(this.names.map((n) => [n, emptyStats()])), samples: 0, skipped: [], hashes: new Map() };
    for (const w of this.workers) w.postMessage({ type: 'pass', layouts } satisfies ToWorker);
    let cursor = 0;
    const feedWorker = async (w: Worker) => {
      while (cursor < units.length) {
        const u = units[cursor++];
        const msg: ToWorker = u.files ? { type: 'files', id: u.id, files: u.files } : { type: 'feed', id: u.id, feed: u.feed!, samples: u.samples };
        const reply = this.next(w, (m) => m.type === 'done' && m.id === u.id);
        w.postMessage(msg);
        const r = (await reply) as Extract<FromWorker, { type: 'done' }>;
        result.samples += r.samples;
        result.skipped.push(...r.skipped);
        if (u.files) {
          const bad = new Set(r.skipped.map((s) => s.file));
          u.files.filter((f) => !bad.has(f.file)).forEach((f, i) => result.hashes.set(f.file, r.hashes[i]));
        }
        tick(u.samples);
      }
    };
    await Promise.all(this.workers.map(feedWorker));
    for (const w of this.workers) {
      const reply = this.next(w, (m) => m.type === 'stats');
      w.postMessage({ type: 'flush' } satisfies ToWorker);
      const r = (await reply) as Extract<FromWorker, { type: 'stats' }>;
      for (const [n, s] of Object.entries(r.stats)) mergeStats(result.stats.get(n)!, s);
    }
    // Skipped files in selection order, whichever worker met them.
    const order = new Map(units.flatMap((u) => u.files ?? []).map((f, i) => [f.file, i]));
    result.skipped.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
    return result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
