/**
 * npm run demo: the main job end to end, with the commands a user would type.
 *   1. The trained demo model (tools/demo_model: a RepVGG trained on Fashion-MNIST): image2npz on the 2,000
 *      committed test PNGs, then for each config of DEMO_CONFIGS build, run the datalist and eval; a table
 *      against PyTorch's top-1 on the same images (tools/demo_model/metrics.json).
 *   2. The zoo's RepVGG-A0 (seeded random weights): build configs/official_repvgg.yaml, a short performance run.
 * Exit 1 when an fp32 build's top-1 differs from PyTorch's by more than 0.1 point.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadBuildConfig } from '../builders/config/load.js';
import type { Manifest } from '../builders/build.js';
import { packageRoot } from '../core/paths.js';
import { readDatalist } from '../core/datalist.js';
import type { DatalistSummary } from '../runtime/datalist.js';

/** Builds of the demo model shown in the table, one row each (configs/<name>.yaml). */
const DEMO_CONFIGS = ['demo_fp32', 'demo_fp16', 'demo_int8'];
const FP32_TOLERANCE = 0.1; // top-1 points between an fp32 build and PyTorch

const root = packageRoot();
const cli = path.join(root, 'bin', 'rebake.js');
const work = 'deploy_weights/demo';
const modelDir = 'tools/demo_model';
const t0 = performance.now();
const STEPS = 4 + 3 * DEMO_CONFIGS.length; // image2npz; build, run, eval per config; zoo, build, performance
let step = 0;

function heading(what: string): void {
  step++;
  process.stdout.write(`\n[${step}/${STEPS}, ${((performance.now() - t0) / 1000).toFixed(0)} s] ${what}\n`);
}

/** Runs the CLI as a user would, its output shown; `capture` also returns stdout. */
function rebake(args: string[], capture = false): string {
  process.stdout.write(`$ rebake ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
  if (capture) process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) {
    process.stderr.write(`demo: rebake ${args[0]} failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
  return r.stdout ?? '';
}

interface Row {
  model: string;
  dtype: string;
  top1: number;
  top5: number;
  pytorchTop1: number;
  samplesPerSecond: number;
  buildSeconds: number;
}

function percentOf(evalOut: string, k: number): number {
  const m = new RegExp(`^top-${k}: ([\\d.]+)%`, 'm').exec(evalOut);
  if (!m) throw new Error(`demo: no top-${k} line in the eval output:\n${evalOut}`);
  return Number(m[1]);
}

function table(rows: Row[]): string {
  const head = ['model', 'dtype', 'top-1 %', 'top-5 %', 'PyTorch top-1 %', 'diff', 'samples/s', 'build s'];
  const cells = rows.map((r) => [r.model, r.dtype, r.top1.toFixed(2), r.top5.toFixed(2), r.pytorchTop1.toFixed(2), (r.top1 - r.pytorchTop1).toFixed(2), r.samplesPerSecond.toFixed(0), r.buildSeconds.toFixed(2)]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `  ${c.map((s, i) => (i < 2 ? s.padEnd(width[i]) : s.padStart(width[i]))).join('  ')}`;
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A few decoded predictions from the zoo-format result file: file, truth, top-1 and its probability. */
function samples(resultFile: string, labels: string[], count: number): string {
  const top0 = fs.readFileSync(resultFile, 'utf8').split('\n').filter((l) => l.includes(': Relay top-0 id: '));
  const step = Math.max(1, Math.floor(top0.length / count));
  return top0
    .filter((_, i) => i % step === 0)
    .slice(0, count)
    .map((l) => {
      const m = /^(.*): Relay top-0 id: (\d+), prob: ([\d.]+)/.exec(l)!;
      const truth = labels[Number(path.basename(path.dirname(m[1])))];
      const pred = labels[Number(m[2])];
      return `  ${path.relative(path.join(root, work, 'npz'), m[1]).padEnd(16)} truth ${truth.padEnd(12)} predicted ${pred.padEnd(12)} p=${Number(m[3]).toFixed(3)}${truth === pred ? '' : '  (wrong)'}`;
    })
    .join('\n');
}

process.stdout.write(`rebake demo: a RepVGG trained on Fashion-MNIST (${modelDir}), built and run on the committed test images,
compared with PyTorch on the same images; then the zoo's RepVGG-A0 (random weights) for speed.
`);
fs.rmSync(path.join(root, work), { recursive: true, force: true });
const metrics = JSON.parse(fs.readFileSync(path.join(root, modelDir, 'metrics.json'), 'utf8'));
const labels = fs.readFileSync(path.join(root, modelDir, 'labels.txt'), 'utf8').trim().split('\n');
const list = `${work}/npz_datalist.txt`;

heading(`image2npz: the ${metrics.subset.images} committed test images (${metrics.subset.per_class} per class) to npz`);
rebake(['image2npz', '--dataset_path', `${modelDir}/images`, '--target_path', `${work}/npz`, '--text_path', list, '--suffix', '.png']);
const images = readDatalist(path.join(root, list)).length;
if (images !== metrics.subset.images) throw new Error(`demo: ${images} images, but PyTorch's numbers are for ${metrics.subset.images}`);

const rows: Row[] = [];
let resultFile = '';
for (const name of DEMO_CONFIGS) {
  const config = loadBuildConfig(path.join(root, 'configs', `${name}.yaml`));
  const prefix = path.relative(root, path.join(config.workspace.path, config.name, 'mod'));
  const out = `${work}/${name}`;
  heading(`build configs/${name}.yaml`);
  rebake(['build', `configs/${name}.yaml`]);
  heading(`run ${config.name} on the ${images} images`);
  rebake(['run', '-m', prefix, '-p', '1', '-i', '2', '-b', '32', '--datalist', list, '--path_output', `${out}/output`, '--report', `${out}/run.json`]);
  heading(`eval ${config.name}`);
  resultFile = path.join(root, out, 'result.txt');
  const evalOut = rebake(['eval', '--result_path', `${out}/output`, '--datalist', list, '--label', `${modelDir}/labels.txt`, '--decode', `${out}/result.txt`], true);
  const manifest = JSON.parse(fs.readFileSync(path.join(root, `${prefix}.json`), 'utf8')) as Manifest;
  const run = JSON.parse(fs.readFileSync(path.join(root, out, 'run.json'), 'utf8')) as DatalistSummary;
  rows.push({ model: config.name, dtype: manifest.dtype, top1: percentOf(evalOut, 1), top5: percentOf(evalOut, 5), pytorchTop1: metrics.pytorch.train_time.subset.top1, samplesPerSecond: run.samplesPerSecond, buildSeconds: manifest.build_seconds });
}

process.stdout.write(`\nsome predictions of ${rows.at(-1)!.model} (${path.relative(root, resultFile)} has the top-5 of every image):\n${samples(resultFile, labels, 6)}\n`);
process.stdout.write(`\nthe demo model on ${images} Fashion-MNIST test images (PyTorch: the train-time model, ${modelDir}/metrics.json):\n${table(rows)}\n`);
const full = metrics.pytorch.train_time.test_set;
process.stdout.write(`  (PyTorch on the full ${full.images}-image test set: top-1 ${full.top1.toFixed(2)}%, top-5 ${full.top5.toFixed(2)}%; samples/s: the datalist run, npz reading and writing included)\n`);
const off = rows.filter((r) => r.dtype === 'fp32' && Math.abs(r.top1 - r.pytorchTop1) > FP32_TOLERANCE);

heading('the zoo RepVGG-A0 (seeded random weights: for speed only, its predictions mean nothing)');
rebake(['zoo', 'a0', '--out', 'deploy_weights/zoo/repvgg_a0.onnx']);
heading('build configs/official_repvgg.yaml');
rebake(['build', 'configs/official_repvgg.yaml']);
heading('performance: RepVGG-A0, batch 8, 3 s');
rebake(['run', '-m', 'deploy_weights/official_repvgg_a0_fp32/mod', '-b', '8', '--duration', '3', '--report', `${work}/performance.json`]);

process.stdout.write(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s. Outputs: ${work}/ (numpy: np.load(f)['output_0']); performance report: ${work}/performance.json\n`);
if (off.length) {
  process.stderr.write(`demo: ${off.map((r) => r.model).join(', ')}: fp32 top-1 differs from PyTorch's by more than ${FP32_TOLERANCE} point\n`);
  process.exit(1);
}
