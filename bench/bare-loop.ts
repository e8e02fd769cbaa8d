/**
 * The bare alternative to `rebake run`, as a user would write it: one process, one InferenceSession, the
 * same session options the runner uses, `batches` run() calls on one in-memory float32 tensor, no I/O.
 * bench:run times this whole process (start-up included) against a whole `rebake run` process.
 * Imports nothing but onnxruntime-node, so its start-up is the floor. Prints its peak RSS as JSON.
 *   node dist/bench/bare-loop.js <model.onnx> <batches> <batch> <threads> <c> <h> <w>
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';

const [model, ...nums] = process.argv.slice(2);
const [batches, batch, threads, c, h, w] = nums.map(Number);
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
const data = new Float32Array(batch * c * h * w);
for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 24) / 64 - 2;
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [batch, c, h, w]) };
for (let i = 0; i < batches; i++) await session.run(feeds);
const hwm = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
process.stdout.write(`${JSON.stringify({ peakRssBytes: hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024 })}\n`);
