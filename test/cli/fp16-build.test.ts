/** `backend.dtype: fp16` through the compiled CLI: half the file, the same I/O, inspect and run work on it. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';
import { inputTensor } from '../helpers/repvgg.js';

let dir: string;
const rebake = (...args: string[]) => cli(args, { cwd: dir });

function config(dtype: string): string {
  const file = `${dtype}.yaml`;
  fs.writeFileSync(path.join(dir, file), `name: tiny_${dtype}\nfrontend:\n  type: onnx\n  checkpoint: tiny.onnx\nbackend:\n  type: onnxruntime\n  dtype: ${dtype}\nworkspace:\n  path: ./ws\n`);
  return file;
}

async function outputOf(file: string, x: ort.Tensor): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file);
  try {
    return (await s.run({ [s.inputNames[0]]: x }))[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-fp16-'));
  const z = rebake('zoo', 'tiny', '--out', 'tiny.onnx', '--size', '32');
  expect(z.status, z.stderr).toBe(0);
  for (const dtype of ['fp32', 'fp16']) {
    const b = rebake('build', config(dtype));
    expect(b.status, b.stderr).toBe(0);
  }
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('rebake build with backend.dtype: fp16', () => {
  it('writes about half the bytes, keeps float32 I/O, and computes within float16 weight rounding', async () => {
    const built = (d: string) => path.join(dir, 'ws', `tiny_${d}`, 'mod.onnx');
    const ratio = fs.statSync(built('fp16')).size / fs.statSync(built('fp32')).size;
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'ws', 'tiny_fp16', 'mod.json'), 'utf8'));
    expect(manifest.dtype).toBe('fp16');
    const fp32Manifest = JSON.parse(fs.readFileSync(path.join(dir, 'ws', 'tiny_fp32', 'mod.json'), 'utf8'));
    expect(manifest.inputs).toEqual(fp32Manifest.inputs);
    expect(manifest.outputs).toEqual(fp32Manifest.outputs);
    const x = inputTensor([2, 3, 32, 32], 7);
    const want = await outputOf(built('fp32'), x);
    const diff = maxAbsDiff(await outputOf(built('fp16'), x), want);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(1e-2 * maxAbs(want));
  });

  it('inspect and run take the fp16 build like any other', () => {
    const i = rebake('inspect', path.join('ws', 'tiny_fp16', 'mod'), '--json');
    expect(i.status, i.stderr).toBe(0);
    expect(JSON.parse(i.stdout).ops.Cast).toBeGreaterThan(0);
    const r = rebake('run', '-m', path.join('ws', 'tiny_fp16', 'mod'), '-b', '2', '--iterations', '2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/throughput\s+[\d.]+ samples\/s/);
  });
});
