/**
 * One calibration worker thread (see calibrate.ts): its own ORT session on the model with the tensors to
 * calibrate added as outputs; it reads and prepares its own samples (files) or takes feeds, runs them, and
 * folds every requested tensor into running statistics at once, so no activation outlives its batch. The
 * parent asks for the statistics at the end of each pass ('flush') and merges them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { RebakeError } from '../../core/errors.js';
import { loadSample, type CalibrationFile, type SampleRecipe } from './dataset.js';
import { accumulateHistogram, accumulateMinMax, emptyStats, histogramFor, type TensorStats } from './stats.js';
import type { FeedTensor, FromWorker, ToWorker, WorkerInit } from './calibrate-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
let session: ort.InferenceSession | undefined;
let stats = new Map<string, TensorStats>();
let layouts: Record<string, { min: number; max: number }> | undefined;

function resetStats(): void {
  stats = new Map(init.names.map((n) => {
    const s = emptyStats();
    const r = layouts?.[n];
    if (r) s.histogram = histogramFor(r.min, r.max, init.bins);
    return [n, s];
  }));
}

function observe(name: string, data: Float32Array): void {
  const s = stats.get(name)!;
  if (s.histogram) accumulateHistogram(s.histogram, data);
  else accumulateMinMax(s, data);
}

function asFloat32(name: string, data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Uint8Array) return Float32Array.from(data);
  throw new RebakeError('CALIB_TENSOR_TYPE', `tensor "${name}" is not float32: only float tensors can be calibrated`);
}

async function runFeed(feed: Record<string, FeedTensor>): Promise<void> {
  const s = session!;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feed)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
  for (const n of init.inputNames) if (feed[n]) observe(n, asFloat32(n, feed[n].data));
  if (!init.fetch.length) return;
  let out: ort.InferenceSession.ReturnType;
  try {
    out = await s.run(feeds, init.fetch);
  } catch (e) {
    throw new RebakeError('CALIB_RUN', `onnxruntime failed on a calibration batch: ${(e as Error).message}`);
  }
  for (const n of init.fetch) observe(n, asFloat32(n, out[n].data));
}

/** Files -> one batch (rows of the readable ones), run. */
async function runFiles(files: CalibrationFile[], recipe: SampleRecipe): Promise<FromWorker> {
  const spec = recipe.input;
  const per = 3 * spec.h * spec.w;
  const rows: (Float32Array | Uint8Array)[] = [];
  const skipped: { file: string; reason: string }[] = [];
  const hashes: string[] = [];
  for (const f of files) {
    const s = await loadSample(f, recipe);
    if ('skip' in s) skipped.push({ file: f.file, reason: s.skip });
    else {
      rows.push(s.data);
      hashes.push(s.sha256);
    }
  }
  if (rows.length) {
    const data = spec.dtype === 'uint8' ? new Uint8Array(rows.length * per) : new Float32Array(rows.length * per);
    rows.forEach((r, i) => data.set(r, i * per));
    const dims = spec.layout === 'chw' ? [rows.length, 3, spec.h, spec.w] : [rows.length, spec.h, spec.w, 3];
    await runFeed({ [spec.name]: { type: spec.dtype, dims, data } });
  }
  return { type: 'done', id: 0, samples: rows.length, skipped, hashes };
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'pass':
      layouts = m.layouts;
      resetStats();
      break;
    case 'files': {
      const r = await runFiles(m.files, init.recipe!);
      send({ ...r, id: m.id } as FromWorker);
      break;
    }
    case 'feed':
      await runFeed(m.feed);
      send({ type: 'done', id: m.id, samples: m.samples, skipped: [], hashes: [] });
      break;
    case 'flush':
      send({ type: 'stats', stats: Object.fromEntries(stats) });
      break;
  }
}

// Messages are handled one at a time, in order: a run() blocks this thread anyway.
let queue = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue.then(() => handle(m)).catch((e: unknown) => {
    if (e instanceof RebakeError) send({ type: 'error', code: e.code, detail: e.detail, location: e.location });
    else send({ type: 'error', code: 'INTERNAL', detail: (e as Error)?.stack ?? String(e) });
  });
});

try {
  // ORT wants an ArrayBuffer of its own (it refuses a SharedArrayBuffer view): one transient copy.
  session = await ort.InferenceSession.create(new Uint8Array(new Uint8Array(init.model)), {
    intraOpNumThreads: init.intraThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  resetStats();
  send({ type: 'ready' });
} catch (e) {
  send({ type: 'error', code: 'CALIB_MODEL_LOAD', detail: `onnxruntime cannot load the model with calibration outputs: ${(e as Error).message}` });
}
