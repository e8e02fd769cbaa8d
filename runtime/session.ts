/**
 * One ORT session on its own worker thread: onnxruntime-node's run() is synchronous native code that blocks
 * the thread calling it, so each session gets a thread. The thread also reads and prepares its own batches,
 * right before running them: with the default thread count the sessions fill every core, and reading on
 * another thread at the same time preempts ORT's threads mid-operator. Measured here on RepVGG-A0, batch 8,
 * 2 threads: run() took 180-198 ms with the host reading the next batch meanwhile, 155-169 ms reading in
 * turn (a read is ~0.3 ms per 256x256 image).
 */
import ort from 'onnxruntime-node';
import { RebakeError } from '../core/errors.js';
import { parentEnd } from './link.js';
import { NpzReader } from '../core/npz.js';
import { allocBatch, imageOf, prepareRow, syntheticBatch } from './prepare.js';
import type { BadItem, FromSession, InputPlan, ModelInfo, OutTensor, RunTiming, TensorMeta, ToSession, WorkItem } from './protocol.js';

const port = parentEnd<ToSession, FromSession>();
let session: ort.InferenceSession | undefined;
let input: InputPlan | undefined;
let synthetic: ort.Tensor | undefined;
const reader = new NpzReader();

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
  const data = allocBatch(p, p.fixedBatch ? p.batch : items.length);
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
  return { x: new ort.Tensor(p.dtype, data.subarray(0, n * p.c * p.h * p.w), [n, p.c, p.h, p.w]), rows, bad };
}

port.onMessage(async (msg) => {
  try {
    switch (msg.type) {
      case 'init': {
        session = await ort.InferenceSession.create(msg.modelPath, {
          intraOpNumThreads: msg.threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          // Several sessions sharing the cores: busy-waiting pool threads would steal them from each other.
          extra: { session: { intra_op: { allow_spinning: msg.spin ? '1' : '0' } } },
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
      case 'run': {
        if (!msg.items) {
          // Performance mode reports timings only: the outputs stay here.
          const { timing } = await run(synthetic!);
          port.send({ type: 'done', id: msg.id, rows: [], outputs: [], bad: [], timing });
          break;
        }
        const { x, rows, bad } = readBatch(msg.items);
        if (!x) {
          port.send({ type: 'done', id: msg.id, rows, outputs: [], bad });
          break;
        }
        const { outputs, timing } = await run(x);
        port.send({ type: 'done', id: msg.id, rows, outputs, bad, timing }, buffersOf(outputs));
        break;
      }
    }
  } catch (e) {
    if (e instanceof OrtFailure) port.send({ type: 'fatal', code: msg.type === 'init' ? 'MODEL_LOAD' : 'MODEL_RUN', message: e.message });
    else port.send({ type: 'fatal', code: 'INTERNAL', message: (e as Error)?.stack ?? String(e) });
  }
});
