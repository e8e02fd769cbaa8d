/**
 * One ORT session on its own worker thread: onnxruntime-node's run() is synchronous native code that blocks
 * the thread calling it, so each session gets a thread and the host's main thread stays free to read and
 * prepare the next batch meanwhile.
 */
import ort from 'onnxruntime-node';
import { parentEnd } from './link.js';
import type { FromSession, InputDtype, ModelInfo, OutTensor, RunTiming, TensorMeta, ToSession } from './protocol.js';

const port = parentEnd<ToSession, FromSession>();
let session: ort.InferenceSession | undefined;
let synthetic: ort.Tensor | undefined;

function metas(names: readonly string[], meta: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return names.map((name, i) => {
    const m = meta[i];
    return m.isTensor ? { name, dtype: m.type, shape: [...m.shape] } : { name, dtype: 'non-tensor', shape: [] };
  });
}

async function run(input: ort.Tensor): Promise<{ outputs: OutTensor[]; timing: RunTiming }> {
  const s = session!;
  const t0 = performance.now();
  const result = await s.run({ [s.inputNames[0]]: input });
  const t1 = performance.now();
  const timing = { ms: t1 - t0, start: performance.timeOrigin + t0, end: performance.timeOrigin + t1 };
  const outputs = s.outputNames.map((name) => {
    const t = result[name];
    return { dtype: t.type, dims: [...t.dims], data: t.data as OutTensor['data'] };
  });
  return { outputs, timing };
}

function tensor(dtype: InputDtype, data: Uint8Array | Float32Array | Uint16Array, dims: number[]): ort.Tensor {
  return new ort.Tensor(dtype, data, dims);
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
        });
        const model: ModelInfo = { inputs: metas(session.inputNames, session.inputMetadata), outputs: metas(session.outputNames, session.outputMetadata) };
        port.send({ type: 'ready', model });
        break;
      }
      case 'synthetic':
        synthetic = tensor(msg.dtype, msg.data, msg.dims);
        for (let i = 0; i < msg.warmup; i++) await run(synthetic);
        port.send({ type: 'warm' });
        break;
      case 'run': {
        const input = msg.data && msg.dims && msg.dtype ? tensor(msg.dtype, msg.data, msg.dims) : synthetic!;
        const { outputs, timing } = await run(input);
        port.send({ type: 'done', id: msg.id, outputs, timing });
        break;
      }
    }
  } catch (e) {
    const stage = msg.type === 'init' ? 'cannot load the model' : 'inference failed';
    port.send({ type: 'fatal', code: msg.type === 'init' ? 'MODEL_LOAD' : 'MODEL_RUN', message: `onnxruntime ${stage}: ${(e as Error).message}` });
  }
});

