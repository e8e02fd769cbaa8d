/**
 * bench:run — the runner against bare onnxruntime, on the zoo's RepVGG-A0 deploy build at batch 8, measured
 * side by side in one run (rounds alternate the sides; the median of the per-round ratios is the result):
 *   1. datalist mode over 256 npz inputs (-p 1 -i 1 -b 8 --threads <cores>), samples/s from the first batch
 *      handed out to the last output written, vs an in-process ORT loop over the same 32 batches with the same
 *      thread count: target >= 0.95.
 *   2. performance mode -p 2 -i 1 --threads 1 vs -p 1 -i 1 --threads 1: target >= 1.9x; beside it, the same
 *      ratio for bare ORT loops in 1 and 2 processes (what this machine allows right now).
 *   3. a sweep over every processes x sessions x threads split of the cores at batch 1/4/8/16: the best layout.
 * Model loading is outside every measurement (the bare loop's session creation is too).
 */
import { fork, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { packageRoot } from '../core/paths.js';
import { runDatalist } from '../runtime/datalist.js';
import { resolveModel } from '../runtime/model.js';
import { writeNpz } from '../core/npz.js';
import { runPerf } from '../runtime/perf.js';
import { cores, type RunSettings } from '../runtime/start.js';
import { best, formatLayout, sweep } from '../runtime/sweep.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SELF = fileURLToPath(import.meta.url);
const INPUTS = 256;
const BATCH = 8;
const root = packageRoot();
const cli = path.join(root, 'bin', 'rebake.js');

function sh(args: string[]): void {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`rebake ${args.join(' ')} failed (${r.status})`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The A0 deploy build (zoo weights), made if missing. */
function deployModel(): string {
  const prefix = path.join(root, 'deploy_weights', 'official_repvgg_a0_fp32', 'mod');
  if (!fs.existsSync(`${prefix}.onnx`)) {
    sh(['zoo', 'a0', '--out', 'deploy_weights/zoo/repvgg_a0.onnx']);
    sh(['build', 'configs/official_repvgg.yaml']);
  }
  return prefix;
}

function seededImage(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** The bare loop: one session, the same batches, nothing else. */
async function bareLoop(modelFile: string, threads: number, batches: ort.Tensor[]): Promise<number> {
  const s = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const feed = (t: ort.Tensor) => ({ [s.inputNames[0]]: t });
  await s.run(feed(batches[0]));
  const t0 = performance.now();
  for (const b of batches) await s.run(feed(b));
  const secs = (performance.now() - t0) / 1000;
  await s.release();
  return (batches.length * BATCH) / secs;
}

/** Child side of bareProcesses: load, warm up, wait for "go", loop for `seconds`, report samples/s. */
async function bareChild(modelFile: string, seconds: number): Promise<void> {
  const s = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const feed = { [s.inputNames[0]]: new ort.Tensor('uint8', seededImage(BATCH * 3 * 256 * 256, 7), [BATCH, 3, 256, 256]) };
  await s.run(feed);
  await s.run(feed);
  process.send!('ready');
  await new Promise((r) => process.once('message', r));
  const t0 = performance.now();
  let runs = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await s.run(feed);
    runs++;
  }
  process.send!((runs * BATCH) / ((performance.now() - t0) / 1000));
  process.exit(0);
}

/** k processes each running a bare single-thread ORT loop at once; their summed samples/s. */
async function bareProcesses(modelFile: string, k: number, seconds: number): Promise<number> {
  const kids = Array.from({ length: k }, () => fork(SELF, ['--bare-child', modelFile, String(seconds)]));
  await Promise.all(kids.map((c) => new Promise((r) => c.once('message', r))));
  const rates = kids.map((c) => new Promise<number>((r) => c.once('message', (m) => r(m as number))));
  for (const c of kids) c.send('go');
  return (await Promise.all(rates)).reduce((a, b) => a + b, 0);
}

async function main(): Promise<void> {
  const n = cores();
  const prefix = deployModel();
  const model = resolveModel(prefix);
  const quiet = () => {};
  const base: RunSettings = { model, processes: 1, instances: 1, threads: n, batch: BATCH, warn: quiet };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-bench-run-'));
  console.log(`bench:run  model ${path.relative(root, model.onnx)} (uint8 [N,3,256,256] in), batch ${BATCH}, ${n} cores, ${ROUNDS} rounds`);
  console.log(`load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (1/5/15 min; the ratios compare sides measured together)`);

  // 1. datalist mode vs the bare loop
  const files: string[] = [];
  const batches: ort.Tensor[] = [];
  const size = 3 * 256 * 256;
  for (let i = 0; i < INPUTS; i += BATCH) {
    const buf = new Uint8Array(BATCH * size);
    for (let k = 0; k < BATCH; k++) {
      const img = seededImage(size, i + k + 1);
      buf.set(img, k * size);
      const f = path.join(work, 'in', `img${String(i + k).padStart(3, '0')}.npz`);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      writeNpz(f, { input_0: { dtype: 'uint8', shape: [3, 256, 256], data: img } });
      files.push(f);
    }
    batches.push(new ort.Tensor('uint8', buf, [BATCH, 3, 256, 256]));
  }
  const list = path.join(work, 'list.txt');
  fs.writeFileSync(list, files.join('\n'));
  const bare: number[] = [];
  const runner: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await bareLoop(model.onnx, n, batches));
    const out = path.join(work, `out${r}`);
    const s = await runDatalist(base, { datalist: list, output: out, resume: false, skipBad: false, progress: false });
    if (s.written !== INPUTS) throw new Error(`datalist run wrote ${s.written} of ${INPUTS}`);
    runner.push(s.samplesPerSecond);
    console.log(`  round ${r + 1}: bare ORT loop ${bare[r].toFixed(2)} samples/s, datalist mode ${runner[r].toFixed(2)} samples/s (whole command ${s.seconds.toFixed(2)} s with model load)`);
  }
  const ratios = runner.map((x, i) => x / bare[i]);
  const r1 = median(ratios);
  console.log(`datalist mode / bare ORT loop (-p 1 -i 1 -b ${BATCH} --threads ${n}, ${INPUTS} inputs), median of per-round ratios: ${r1.toFixed(3)} (best ${Math.max(...ratios).toFixed(3)})  (target >= 0.95) ${r1 >= 0.95 ? 'PASS' : 'FAIL'}`);

  // 2. two processes vs one, one thread each; bare ORT processes alongside for the machine's own ceiling
  const perf = async (p: number) => (await runPerf({ ...base, processes: p, threads: 1 }, { duration: 4, warmup: 2 }))!;
  const ours: number[] = [];
  const bares: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = await perf(1);
    const b = await perf(2);
    const b1 = await bareProcesses(model.onnx, 1, 4);
    const b2 = await bareProcesses(model.onnx, 2, 4);
    ours.push(b.throughput / a.throughput);
    bares.push(b2 / b1);
    console.log(
      `  round ${r + 1}: rebake -p 1 ${a.throughput.toFixed(2)}, -p 2 ${b.throughput.toFixed(2)} samples/s (${b.perProcess.map((x) => x.throughput.toFixed(2)).join(' + ')}) = ${ours[r].toFixed(3)}x;` +
        ` bare ORT 1 process ${b1.toFixed(2)}, 2 processes ${b2.toFixed(2)} = ${bares[r].toFixed(3)}x`,
    );
  }
  const r2 = median(ours);
  console.log(`performance -p 2 / -p 1 (-i 1 -b ${BATCH} --threads 1), median of per-round ratios: ${r2.toFixed(3)}x (best ${Math.max(...ours).toFixed(3)}x)  (target >= 1.9x) ${r2 >= 1.9 ? 'PASS' : 'FAIL'}; bare ORT processes on this machine now: ${median(bares).toFixed(3)}x`);

  // 3. sweep
  console.log(`sweep (performance mode, 2 s per layout):`);
  const points = await sweep(base, { duration: 2, warmup: 2, batches: [1, 4, 8, 16] }, (p) =>
    console.log(`  ${formatLayout(p).padEnd(36)} ${p.throughput.toFixed(2).padStart(8)} samples/s  p50 ${p.p50.toFixed(1)} ms`),
  );
  const b = best(points)!;
  console.log(`best layout for this machine: ${formatLayout(b)} (${b.throughput.toFixed(2)} samples/s)`);
  fs.rmSync(work, { recursive: true, force: true });
}

const task = process.argv[2] === '--bare-child' ? bareChild(process.argv[3], Number(process.argv[4])) : main();
task.catch((e) => {
  console.error(e);
  process.exit(1);
});
