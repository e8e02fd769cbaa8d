/**
 * dataset.process_ops on the host (builders/quantize/process-ops.ts, through dataset.ts's loadSample) against
 * the OpenCV + numpy fixtures of tools/make_calibration_fixtures.py: photos downscaled, a non-square resize,
 * a crop with odd margins, a channel swap, 0..255 mean/std, channels-last output, and an upscale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSample, sampleRecipe } from '../../builders/quantize/dataset.js';
import { applyProcessOps, planProcessOps } from '../../builders/quantize/process-ops.js';
import { readNpz, writeNpz } from '../../core/npz.js';
import { maxAbsDiff } from '../helpers/ort.js';
import { configIn, floatModel, tempDir } from './helpers.js';

const FIXTURES = path.resolve('test/fixtures/calibration');
const PHOTOS = path.resolve('test/fixtures/photos');
const index: { cases: { case: string; photo: string | null; process_ops: unknown[]; layout: 'chw' | 'hwc'; shape: number[] }[] } = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8'),
);

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('process_ops vs OpenCV', () => {
  for (const c of index.cases) {
    it(`${c.case}: ${c.process_ops.map((o) => (o as { type: string }).type).join(', ')}`, async () => {
      const dir = tempDir('calib-ops');
      dirs.push(dir);
      const arrays = readNpz(path.join(FIXTURES, `${c.case}.npz`));
      const expected = arrays.get('expected')!.data as Float32Array;
      fs.mkdirSync(path.join(dir, 'data'));
      const file = path.join(dir, 'data', c.photo ?? 'input.npz');
      if (c.photo) fs.copyFileSync(path.join(PHOTOS, c.photo), file);
      else writeNpz(file, { input_0: arrays.get('input')! });
      // YAML reads JSON: the fixture's op list goes in as written.
      const config = configIn(dir, `dataset:\n  path: data\n  process_ops: ${JSON.stringify(c.process_ops)}\n`);
      const [h, w] = c.layout === 'chw' ? c.shape.slice(1) : c.shape.slice(0, 2);
      const recipe = sampleRecipe(config, floatModel(h, w, c.layout).graph.inputs[0], undefined, () => {});
      const s = await loadSample({ file, rel: path.basename(file) }, recipe);
      if (!('data' in s)) throw new Error(s.skip);
      expect(s.data).toBeInstanceOf(Float32Array);
      expect(s.data.length).toBe(expected.length);
      // Same uint8 pixels after the resize and crop, same float32 operations after: equal to the last bit.
      expect(maxAbsDiff(s.data, expected)).toBe(0);
    });
  }
});

describe('process_ops details', () => {
  const at = (i: number) => ({ file: 'c.yaml', path: `dataset.process_ops[${i}]` });

  it('CenterCrop takes the floor of the margins; an image smaller than the crop is skipped', () => {
    const img = new Uint8Array(3 * 5 * 6).map((_, i) => i);
    const plan = planProcessOps([{ type: 'CenterCrop', crop_size: [2, 3] }, { type: 'ToTensor' }], at);
    // Margins 3 rows and 3 columns: top 1, left 1.
    const out = applyProcessOps(img, 5, 6, plan, 'x.png');
    expect([...out.data.subarray(0, 6)]).toEqual([7, 8, 9, 13, 14, 15]);
    expect(() => applyProcessOps(img, 5, 6, planProcessOps([{ type: 'CenterCrop', crop_size: [6, 6] }], at), 'x.png')).toThrow(
      expect.objectContaining({ code: 'CALIB_IMAGE_TOO_SMALL' }),
    );
  });

  it('Normalize scale: 0..1 mean/std divide by 255 first, 0..255 ones do not; CvtColor swaps R and B', () => {
    const img = Uint8Array.from([10, 20, 30].flatMap((v) => [v, v]));
    const f = Math.fround;
    const unit = applyProcessOps(img, 1, 2, planProcessOps([{ type: 'Normalize', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, { type: 'ToTensor' }], at), 'x');
    expect(unit.data[0]).toBe(f(f(f(10 / 255) - 0.5) / 0.25));
    const bytes = applyProcessOps(img, 1, 2, planProcessOps([{ type: 'CvtColor', code: 'RGB2BGR' }, { type: 'Normalize', mean: [1, 2, 3], std: [2, 2, 2] }, { type: 'ToTensor' }], at), 'x');
    expect([...bytes.data]).toEqual([(30 - 1) / 2, (30 - 1) / 2, (20 - 2) / 2, (20 - 2) / 2, (10 - 3) / 2, (10 - 3) / 2]);
    // The caller's image is not modified by the swap.
    expect(img[0]).toBe(10);
  });
});
