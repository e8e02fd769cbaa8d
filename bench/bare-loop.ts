/**
 * The bare alternatives to `rebake run`, as a user would write them: one process, one InferenceSession, the
 * same session options the runner uses. bench:run times each whole process (start-up included) against a
 * whole `rebake run` process. Prints its peak RSS as JSON.
 *   node dist/bench/bare-loop.js <model.onnx> <batches> <batch> <threads> <c> <h> <w> [<list.txt> <out dir>]
 * Without a datalist: `batches` run() calls on one in-memory float32 tensor, no I/O (the floor).
 * With one: the same loop doing the datalist's file work in line on its one thread, with rebake's own npz
 * reader (CRCs checked) and writer: read a batch of inputs, run, write one output npz per input. It shows
 * how much of a `rebake run` is the file work itself and how much the runner around it.
 */
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const [model, ...rest] = process.argv.slice(2);
const [batches, batch, threads, c, h, w] = rest.slice(0, 6).map(Number);
const [list, outDir] = rest.slice(6);
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
const data = new Float32Array(batch * c * h * w);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [batch, c, h, w]) };
if (!list) {
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 24) / 64 - 2;
  for (let i = 0; i < batches; i++) await session.run(feeds);
} else {
  // Imported here only: the no-I/O loop loads nothing but onnxruntime-node, so its start-up is the floor.
  const { NpzReader, writeNpz } = await import('../core/npz.js');
  const files = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean);
  const reader = new NpzReader();
  const row = c * h * w;
  fs.mkdirSync(outDir, { recursive: true });
  for (let first = 0; first < files.length; first += batch) {
    const names = files.slice(first, first + batch);
    names.forEach((f, j) => data.set(reader.read(f).get('input_0')!.data as Float32Array, j * row));
    const out = (await session.run(feeds))[session.outputNames[0]];
    const per = out.data.length / batch;
    names.forEach((f, j) => {
      const y = (out.data as Float32Array).subarray(j * per, (j + 1) * per);
      writeNpz(path.join(outDir, `${first + j}_${path.basename(f)}`), { output_0: { dtype: 'float32', shape: [1, ...out.dims.slice(1)], data: y } });
    });
  }
}
const hwm = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
process.stdout.write(`${JSON.stringify({ peakRssBytes: hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024 })}\n`);
