/**
 * collectStatistics (builders/quantize/calibrate.ts): the min/max it collects in its workers equal the
 * values ONNX Runtime actually produces in those tensors (read from a separate session with the tensors as
 * outputs); the result does not depend on the thread count; files are read, skipped and hashed as documented.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { collectStatistics, type Feed } from '../../builders/quantize/calibrate.js';
import { sampleRecipe, selectCalibrationFiles } from '../../builders/quantize/dataset.js';
import { resizeU8 } from '../../builders/preprocess/host.js';
import { decodeImage } from '../../core/image.js';
import { writeNpz } from '../../core/npz.js';
import { DataType } from '../../core/tensor.js';
import { cloneModel } from '../../builders/ir/model.js';
import type { RebakeError } from '../../core/errors.js';
import '../helpers/dist.js';
import { tinyClassifier } from '../helpers/models.js';
import { runOrt, seededFloats } from '../helpers/ort.js';
import { configIn, tempDir, touch, uint8Model } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const PHOTOS = path.resolve('test/fixtures/photos');

/** Five batches of two, at different scales (one with a large value), as feeds. */
function feeds(): Feed[] {
  return [1, 0.5, 3, 1, 10].map((scale, i) => {
    const data = seededFloats(2 * 3 * 8 * 8, 40 + i).map((v) => v * scale);
    if (i === 3) data[17] = 25;
    return { x: { type: 'float32', dims: [2, 3, 8, 8], data } };
  });
}

function minMax(a: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) (min = Math.min(min, v)), (max = Math.max(max, v));
  return { min, max };
}

describe('collectStatistics on feeds', () => {
  const names = ['x', 'c1', 'r1', 'c2', 'y'];

  it("min/max and counts equal ONNX Runtime's own intermediate values", async () => {
    const model = tinyClassifier();
    const st = await collectStatistics(model, names, feeds(), { threads: 2 });
    // Reference: a clone with the intermediates as graph outputs, run in this thread, optimizations off.
    const ref = cloneModel(model);
    for (const n of ['c1', 'r1', 'c2']) ref.graph.outputs.push({ name: n, elemType: DataType.FLOAT, shape: undefined });
    const want = new Map(names.map((n) => [n, { min: Infinity, max: -Infinity, count: 0 }]));
    for (const f of feeds()) {
      const x = new ort.Tensor('float32', f.x.data as Float32Array, f.x.dims);
      const out: Record<string, ort.Tensor> = { ...(await runOrt(ref, { x })), x };
      for (const n of names) {
        const data = out[n].data as Float32Array;
        const w = want.get(n)!;
        const mm = minMax(data);
        w.min = Math.min(w.min, mm.min);
        w.max = Math.max(w.max, mm.max);
        w.count += data.length;
      }
    }
    expect(st.samples).toBe(10);
    for (const n of names) {
      const got = st.tensors.get(n)!;
      const w = want.get(n)!;
      const tol = 1e-5 * Math.max(Math.abs(w.min), Math.abs(w.max));
      expect(got.count, n).toBe(w.count);
      expect(Math.abs(got.min - w.min), n).toBeLessThanOrEqual(tol);
      expect(Math.abs(got.max - w.max), n).toBeLessThanOrEqual(tol);
      const h = got.histogram!;
      expect([...h.pos, ...h.neg].reduce((a, b) => a + b, 0), n).toBe(w.count);
    }
    expect(st.tensors.get('x')!.max).toBe(25);
    expect(st.tensors.get('r1')!.min).toBe(0);
    // Negative control: the range really varies between tensors.
    expect(st.tensors.get('c1')!.min).toBeLessThan(0);
  });

  it('gives identical statistics with 1 and 2 threads, and leaves the model unchanged', async () => {
    const model = tinyClassifier();
    const before = model.graph.signature();
    const a = await collectStatistics(model, names, feeds(), { threads: 1 });
    const b = await collectStatistics(model, names, feeds(), { threads: 2, bins: 2048 });
    expect(model.graph.signature()).toBe(before);
    for (const n of names) expect(b.tensors.get(n)).toEqual(a.tensors.get(n));
    const c = await collectStatistics(model, names, feeds(), { threads: 2, histograms: false });
    expect(c.tensors.get('c2')!.histogram).toBeUndefined();
    expect(c.tensors.get('c2')!.max).toBe(a.tensors.get('c2')!.max);
  });

  it('reports progress up to the total of both passes', async () => {
    const seen: number[] = [];
    await collectStatistics(tinyClassifier(), ['c1'], feeds(), { threads: 1, onProgress: (d, t) => seen.push(d, t) });
    expect(seen.slice(-2)).toEqual([20, 20]);
  });
});

describe('collectStatistics on a dataset folder', () => {
  it('reads npz and images, resizes them as rebake run would, skips and lists unreadable files, hashes the used ones', async () => {
    const dir = tempDir('calib-files');
    dirs.push(dir);
    const root = path.join(dir, 'data');
    const small = new Uint8Array(3 * 16 * 16).map((_, i) => (i * 7) % 251);
    fs.mkdirSync(path.join(root, 'n1'), { recursive: true });
    writeNpz(path.join(root, 'n1', 'a.npz'), { input_0: { dtype: 'uint8', shape: [3, 16, 16], data: small } });
    fs.copyFileSync(path.join(PHOTOS, 'chelsea.jpg'), path.join(root, 'n1', 'b.jpg'));
    touch(root, ['n2/c.jpg'], Buffer.from('not a jpeg'));
    touch(root, ['n2/d.npz'], Buffer.from('PK\x03\x04 cut short'));
    const config = configIn(dir, 'dataset:\n  path: data\n');
    const sel = selectCalibrationFiles(config, () => {});
    const model = uint8Model(16, 16);
    const recipe = sampleRecipe(config, model.graph.inputs[0], undefined, () => {});
    const st = await collectStatistics(model, ['xf', 'c'], { files: sel.files, recipe, where: config.locate('dataset.path') }, { threads: 2, batch: 3 });
    expect(st.samples).toBe(2);
    expect(st.skipped.map((s) => path.relative(root, s.file))).toEqual(['n2/c.jpg', 'n2/d.npz']);
    const cat = await decodeImage(path.join(root, 'n1', 'b.jpg'));
    const catSmall = resizeU8(cat.data, 3, cat.shape[1], cat.shape[2], 16, 16, 'BILINEAR_CV');
    const pixels = [...small, ...catSmall];
    expect(st.tensors.get('xf')!.min).toBe(Math.min(...pixels));
    expect(st.tensors.get('xf')!.max).toBe(Math.max(...pixels));
    expect(st.tensors.get('xf')!.count).toBe(2 * 3 * 16 * 16);
    const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(path.join(root, f))).digest('hex');
    const want = crypto.createHash('sha256').update(`${sha('n1/a.npz')}  n1/a.npz\n${sha('n1/b.jpg')}  n1/b.jpg\n`).digest('hex');
    expect(st.files).toEqual({ count: 2, sha256: want });
  });

  it('fails with CALIB_NO_SAMPLES, located at dataset.path, when no file can be used', async () => {
    const dir = tempDir('calib-none');
    dirs.push(dir);
    touch(path.join(dir, 'data'), ['x/1.png', 'x/2.png'], Buffer.from('garbage'));
    const config = configIn(dir, 'dataset:\n  path: data\n  sampler: {suffix: png}\n');
    const model = uint8Model(8, 8);
    const recipe = sampleRecipe(config, model.graph.inputs[0], undefined, () => {});
    const err = (await collectStatistics(model, ['c'], { files: selectCalibrationFiles(config, () => {}).files, recipe, where: config.locate('dataset.path') }, { threads: 1 }).catch((e: unknown) => e)) as RebakeError;
    expect(err.code).toBe('CALIB_NO_SAMPLES');
    expect(err.location).toMatchObject({ line: 5, path: 'dataset.path' });
    expect(err.message).toContain('none of the 2 calibration inputs could be used');
  });
});
