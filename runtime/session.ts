/**
 * One ORT session, served over a message port: onnxruntime-node's run() is synchronous native code that blocks
 * the thread calling it. A host with several sessions gives each its own thread (session-thread.ts); a host
 * with one runs it on its own main thread (the host only relays between runs, so it loses nothing, and a
 * thread start-up and a cross-thread message per batch are saved). The session also reads and prepares its
 * own batches, right before running them, into one reused input buffer: with the default thread count the
 * sessions fill every core, and reading on another thread at the same time preempts ORT's threads
 * mid-operator (measured on RepVGG-A0, batch 8 of float32 [3,224,224], 2 threads: reading the next batch on
 * a second thread during run() gave 53.8-56.7 ms per batch against 53.6-58.1 ms reading in turn, no gain).
 * Units wait in the session's own queue, so the next one starts the moment run() returns.
 */
import ort from 'onnxruntime-node';
import { RebakeError } from '../core/errors.js';
import type { ParentEnd } from './link.js';
import { NpzReader } from '../core/npz.js';
import { allocBatch, imageOf, prepareRow, syntheticBatch, type InputData } from './prepare.js';
import type { BadItem, FromSession, InputPlan, ModelInfo, OutTensor, RunTiming, TensorMeta, ToSession, WorkItem } from './protocol.js';

let port: ParentEnd<ToSession, FromSession>;
let session: ort.InferenceSession | undefined;
let input: InputPlan | undefined;
let synthetic: ort.Tensor | undefined;
const reader = new NpzReader();
/** The input batch buffer, reused: ORT is done with it when run() returns. */
let batchBuffer: InputData | undefined;
const units: { id: number; items?: WorkItem[] }[] = [];
let draining = false;

function metas(names: readonly string[], meta: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return names.map((name, i) => {
    const m = meta[i];
    return m.isTensor ? { name, dtype: m.type, shape: [...m.shape] } : { name, dtype: 'non-tensor', shape: [] };
  });
}

class OrtFailure extends Error {}

async function run(x: ort.Tensor): Promise<{ outputs: OutTensor[]; timing: RunTiming }> {
  const s = session!;
  const t0 = performance.now();
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await s.run({ [s.inputNames[0]]: x });
  } catch (e) {
    throw new OrtFailure(`onnxruntime inference failed: ${(e as Error).message}`);
  }
  const t1 = performance.now();
  const outputs = s.outputNames.map((name) => {
    const t = result[name];
    return { dtype: t.type, dims: [...t.dims], data: t.data as OutTensor['data'] };
  });
  return { outputs, timing: { ms: t1 - t0, start: performance.timeOrigin + t0, end: performance.timeOrigin + t1 } };
}

/** The outputs' memory, moved to the host rather than copied (ORT hands each run fresh buffers). */
function buffersOf(outputs: OutTensor[]): ArrayBuffer[] {
  return [...new Set(outputs.map((o) => o.data.buffer as ArrayBuffer))];
}

/** The batch tensor of the readable items (padded to the fixed batch size if the model has one). */
function readBatch(items: WorkItem[]): { x?: ort.Tensor; rows: number[]; bad: BadItem[] } {
  const p = input!;
  const rowsNeeded = p.fixedBatch ? p.batch : items.length;
  if (!batchBuffer || batchBuffer.length < rowsNeeded * p.c * p.h * p.w) batchBuffer = allocBatch(p, rowsNeeded);
  const data = batchBuffer;
  const rows: number[] = [];
  const bad: BadItem[] = [];
  for (const it of items) {
    try {
      prepareRow(imageOf(reader.read(it.file), it.file, p), it.file, p, data, rows.length);
      rows.push(it.index);
    } catch (e) {
      if (!(e instanceof RebakeError)) throw e;
      bad.push({ index: it.index, file: it.file, code: e.code, message: e.message });
    }
  }
  if (!rows.length) return { rows, bad };
  const n = p.fixedBatch ? p.batch : rows.length;
  // Padding rows of a fixed batch are zeros, not what the buffer held from the batch before.
  data.fill(0, rows.length * p.c * p.h * p.w, n * p.c * p.h * p.w);
  return { x: new ort.Tensor(p.dtype, data.subarray(0, n * p.c * p.h * p.w), [n, p.c, p.h, p.w]), rows, bad };
}

function reportFailure(e: unknown, loading: boolean): void {
  if (e instanceof OrtFailure) port.send({ type: 'fatal', code: loading ? 'MODEL_LOAD' : 'MODEL_RUN', message: e.message });
  else port.send({ type: 'fatal', code: 'INTERNAL', message: (e as Error)?.stack ?? String(e) });
}

async function runUnit(unit: { id: number; items?: WorkItem[] }): Promise<void> {
  if (!unit.items) {
    // Performance mode reports timings only: the outputs stay here.
    const { timing } = await run(synthetic!);
    port.send({ type: 'done', id: unit.id, rows: [], outputs: [], bad: [], timing });
    return;
  }
  const { x, rows, bad } = readBatch(unit.items);
  if (!x) {
    port.send({ type: 'done', id: unit.id, rows, outputs: [], bad });
    return;
  }
  const { outputs, timing } = await run(x);
  port.send({ type: 'done', id: unit.id, rows, outputs, bad, timing }, buffersOf(outputs));
}

/** Run queued units one after another; units that arrive meanwhile join the queue (run() yields to the event loop). */
async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  try {
    while (units.length) await runUnit(units.shift()!);
  } catch (e) {
    units.length = 0;
    reportFailure(e, false);
  } finally {
    draining = false;
  }
}

async function onMessage(msg: ToSession): Promise<void> {
  try {
    switch (msg.type) {
      case 'init': {
        session = await ort.InferenceSession.create(msg.modelPath, {
          intraOpNumThreads: msg.threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          extra: {
            session: {
              // Several sessions sharing the cores: busy-waiting pool threads would steal them from each other.
              intra_op: { allow_spinning: msg.spin ? '1' : '0' },
              // Spinning ends when run() returns: the pool thread would otherwise hold a core while this thread
              // reads the next batch and the host relays outputs (a 2 ms stall per batch, measured on 2 cores).
              force_spinning_stop: '1',
            },
          },
        }).catch((e: Error) => {
          throw new OrtFailure(`onnxruntime cannot load the model: ${e.message}`);
        });
        const model: ModelInfo = { inputs: metas(session.inputNames, session.inputMetadata), outputs: metas(session.outputNames, session.outputMetadata) };
        port.send({ type: 'ready', model });
        break;
      }
      case 'plan':
        input = msg.plan.input;
        if (msg.plan.mode === 'perf') {
          synthetic = new ort.Tensor(input.dtype, syntheticBatch(input), [input.batch, input.c, input.h, input.w]);
          for (let i = 0; i < msg.plan.warmup; i++) await run(synthetic);
        }
        port.send({ type: 'warm' });
        break;
      case 'run':
        units.push(msg);
        await drain();
        break;
    }
  } catch (e) {
    reportFailure(e, msg.type === 'init');
  }
}

/** Serve the session on `end`: the parent end of a thread, or of a link inside the host's own thread. */
export function serveSession(end: ParentEnd<ToSession, FromSession>): void {
  port = end;
  port.onMessage((msg) => void onMessage(msg));
}
