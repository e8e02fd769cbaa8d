/**
 * The committed demo model through the CLI, as `npm run demo` uses it: build configs/demo_fp32.yaml (into a
 * temp workspace), image2npz 500 of the committed test PNGs (the first 50 of each class), run, eval. The
 * reference is PyTorch: tools/demo_model/metrics.json holds the train-time model's top-5 per committed image
 * (tools/train_demo_model.py), so rebake's accuracy and per-image top-1 are checked against PyTorch's on the
 * very same 500 images.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';
import { shippedConfig } from '../helpers/configs.js';

const MODEL_DIR = path.resolve('tools/demo_model');
const PER_CLASS = 50;

interface Prediction {
  file: string;
  label: number;
  top5: number[];
}

const metrics = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'metrics.json'), 'utf8'));
const predictions: Prediction[] = metrics.subset.predictions;
const chosen = [...Array(10).keys()].flatMap((c) => predictions.filter((p) => p.label === c).slice(0, PER_CLASS));

let dir: string;
let manifest: { ops_after: Record<string, number>; ops_before: Record<string, number>; macs_after: number };
let evalLines: string[];
let decodedTop1: Map<string, number>;

function ok(args: string[]): string {
  const r = cli(args);
  if (r.status !== 0) throw new Error(`rebake ${args[0]} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  dir = tempDir('demo-model');
  const config = shippedConfig('demo_fp32', dir);
  ok(['build', config.file]);
  manifest = JSON.parse(fs.readFileSync(path.join(dir, 'ws', config.name, 'mod.json'), 'utf8'));

  for (const p of chosen) {
    fs.mkdirSync(path.join(dir, 'images', path.dirname(p.file)), { recursive: true });
    fs.copyFileSync(path.join(MODEL_DIR, 'images', p.file), path.join(dir, 'images', p.file));
  }
  const list = path.join(dir, 'list.txt');
  ok(['image2npz', '--dataset_path', path.join(dir, 'images'), '--target_path', path.join(dir, 'npz'), '--text_path', list, '--suffix', '.png']);
  ok(['run', '-m', path.join(dir, 'ws', config.name, 'mod'), '-b', '16', '--datalist', list, '--path_output', path.join(dir, 'out')]);
  const decode = path.join(dir, 'result.txt');
  evalLines = ok(['eval', '--result_path', path.join(dir, 'out'), '--datalist', list, '--label', path.join(MODEL_DIR, 'labels.txt'), '--decode', decode]).trim().split('\n');
  decodedTop1 = new Map();
  for (const line of fs.readFileSync(decode, 'utf8').split('\n')) {
    const m = /^(.*)\.npz: Relay top-0 id: (\d+),/.exec(line);
    if (m) decodedTop1.set(path.relative(path.join(dir, 'npz'), m[1]), Number(m[2]));
  }
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('demo model (tools/demo_model) built from configs/demo_fp32.yaml', () => {
  it('is one 3x3 conv per block, with the MACs its layer table gives (the baked resize does not hide them)', () => {
    const layers: { cin: number; cout: number; stride: number; groups: number }[] = metrics.model.layers;
    expect(manifest.ops_before.BatchNormalization).toBeGreaterThan(layers.length);
    expect(manifest.ops_after.BatchNormalization).toBeUndefined();
    expect(manifest.ops_after.Conv).toBe(layers.length);
    let side = 32;
    let macs = 0;
    for (const l of layers) {
      side /= l.stride;
      macs += side * side * l.cout * (l.cin / l.groups) * 9;
    }
    macs += layers.at(-1)!.cout * 10; // the Gemm head
    expect(manifest.macs_after).toBe(macs);
  });

  it('scores 500 committed images with the top-1 and top-5 PyTorch recorded for them (within 0.1 point)', () => {
    expect(chosen).toHaveLength(500);
    const pyTop1 = chosen.filter((p) => p.top5[0] === p.label).length;
    const pyTop5 = chosen.filter((p) => p.top5.includes(p.label)).length;
    const m1 = /^top-1: ([\d.]+)% \((\d+)\/500\)$/.exec(evalLines[1]);
    const m5 = /^top-5: ([\d.]+)% \((\d+)\/500\)$/.exec(evalLines[2]);
    expect(evalLines[0]).toBe('evaluated 500 of 500 datalist entries (outputs paired by name)');
    expect(m1 && m5).toBeTruthy();
    expect(Math.abs(Number(m1![1]) - (100 * pyTop1) / 500)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(Number(m5![1]) - (100 * pyTop5) / 500)).toBeLessThanOrEqual(0.1);
    // A trained model, not a lucky constant: PyTorch's own number on these images is high.
    expect(pyTop1).toBeGreaterThan(400);
  });

  it('gives each image the top-1 class PyTorch gave it', () => {
    expect(decodedTop1.size).toBe(500);
    const differing = chosen.filter((p) => decodedTop1.get(p.file.replace(/\.png$/, '')) !== p.top5[0]).map((p) => p.file);
    expect(differing).toEqual([]);
  });
});

describe('the recorded PyTorch numbers', () => {
  it('agree with the per-image predictions, and the re-parameterized model matches the train-time one', () => {
    const sub = metrics.pytorch.train_time.subset;
    expect(sub.images).toBe(predictions.length);
    expect(sub.top1_correct).toBe(predictions.filter((p) => p.top5[0] === p.label).length);
    expect(sub.top5_correct).toBe(predictions.filter((p) => p.top5.includes(p.label)).length);
    expect(Math.abs(metrics.pytorch.reparameterized_float64.test_set.top1 - metrics.pytorch.train_time.test_set.top1)).toBeLessThanOrEqual(0.05);
  });
});
