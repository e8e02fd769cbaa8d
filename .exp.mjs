import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { runDatalist } from '/work/main/dist/runtime/datalist.js';
import { resolveModel } from '/work/main/dist/runtime/model.js';
import { writeNpz } from '/work/main/dist/runtime/npz.js';
const dir = '/tmp/rt/bench256';
const size = 3 * 256 * 256;
const files = [];
const batches = [];
for (let i = 0; i < 256; i += 8) {
  const buf = new Uint8Array(8 * size);
  for (let k = 0; k < 8; k++) {
    const f = path.join(dir, 'in', `img${String(i + k).padStart(3, '0')}.npz`);
    let img;
    if (!fs.existsSync(f)) { fs.mkdirSync(path.dirname(f), { recursive: true }); img = new Uint8Array(size).map((_, j) => (j * 31 + i + k) & 255); writeNpz(f, { input_0: { dtype: 'uint8', shape: [3, 256, 256], data: img } }); }
    else img = new Uint8Array(size).map((_, j) => (j * 31 + i + k) & 255);
    buf.set(img, k * size);
    files.push(f);
  }
  batches.push(new ort.Tensor('uint8', buf, [8, 3, 256, 256]));
}
fs.writeFileSync(path.join(dir, 'list.txt'), files.join('\n'));
const model = resolveModel('deploy_weights/official_repvgg_a0_fp32/mod');
const mode = process.argv[2];
if (mode === 'bare') {
  const s = await ort.InferenceSession.create(model.onnx, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const t0 = performance.now(); let ms = 0;
  for (const b of batches) { const t = performance.now(); await s.run({ input: b }); ms += performance.now() - t; }
  const T = performance.now() - t0;
  console.log(`bare: ${(256000 / T).toFixed(2)} samples/s, mean run ${(ms / 32).toFixed(1)} ms`);
} else {
  const s = await runDatalist({ model, processes: 1, instances: 1, threads: 2, batch: 8, warn: () => {} }, { datalist: path.join(dir, 'list.txt'), output: path.join(dir, 'out'), resume: false, skipBad: false, progress: false });
  console.log(`runner: ${s.samplesPerSecond.toFixed(2)} samples/s, mean run ${s.meanBatchMs.toFixed(1)} ms, window ${s.processingSeconds.toFixed(2)} s`);
}
