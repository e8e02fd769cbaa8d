/** Calibration file choice and sample recipes (builders/quantize/dataset.ts): deterministic, documented, located errors. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evenlySpaced, loadSample, sampleRecipe, selectCalibrationFiles } from '../../builders/quantize/dataset.js';
import { RebakeError } from '../../core/errors.js';
import { writeNpz } from '../../core/npz.js';
import { configIn, floatModel, tempDir, touch, uint8Model } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function fresh(): string {
  const d = tempDir('calib-ds');
  dirs.push(d);
  return d;
}

function thrown(f: () => unknown): RebakeError {
  try {
    f();
  } catch (e) {
    if (e instanceof RebakeError) return e;
    throw e;
  }
  throw new Error('expected a RebakeError');
}

const ZOO_OPS = `  process_ops:
    - type: DecodeImage
    - type: Resize
      size: [256, 256]
    - type: CenterCrop
      crop_size: [224, 224]
    - type: Normalize
      mean: [0.485, 0.456, 0.406]
      std: [0.229, 0.224, 0.225]
    - type: ToTensor
`;

describe('calibration file choice', () => {
  // Created out of order, with names whose byte order differs from a locale or case-folding order.
  const TREE = ['b/2.JPEG', 'a/10.JPEG', 'B/1.JPEG', 'a/9.jpeg', 'ä/1.JPEG', 'a/1.JPEG', 'b/1.JPEG', 'c/x.JPEG', 'c/y.JPEG', 'a/2.JPEG'];
  const SORTED = ['B/1.JPEG', 'a/1.JPEG', 'a/10.JPEG', 'a/2.JPEG', 'a/9.jpeg', 'b/1.JPEG', 'b/2.JPEG', 'c/x.JPEG', 'c/y.JPEG', 'ä/1.JPEG'];

  it('sorts by relative path bytewise and takes floor(i*N/k): evenly spaced from the first', () => {
    const dir = fresh();
    touch(path.join(dir, 'data'), [...TREE, 'a/skip.jpg', 'a/.hidden.JPEG', '.cache/z.JPEG', 'a/noext']);
    const config = configIn(dir, 'dataset:\n  path: data\n  sampler: {suffix: JPEG, get_data_num: 4}\n');
    const sel = selectCalibrationFiles(config, () => {});
    expect(sel.found).toBe(10);
    expect(evenlySpaced(10, 4)).toEqual([0, 2, 5, 7]);
    expect(sel.files.map((f) => f.rel)).toEqual([SORTED[0], SORTED[2], SORTED[5], SORTED[7]]);
    expect(sel.files[0].file).toBe(path.join(dir, 'data', 'B', '1.JPEG'));
    // All of them, in that order, without get_data_num.
    const all = selectCalibrationFiles(configIn(dir, 'dataset:\n  path: data\n  sampler: {suffix: .jpeg}\n'), () => {});
    expect(all.files.map((f) => f.rel)).toEqual(SORTED);
  });

  it('is the same whatever order the files were created in', () => {
    const one = fresh();
    const two = fresh();
    touch(path.join(one, 'data'), TREE);
    touch(path.join(two, 'data'), [...TREE].reverse());
    const pick = (d: string) => selectCalibrationFiles(configIn(d, 'dataset:\n  path: data\n  sampler: {suffix: JPEG, get_data_num: 3}\n'), () => {}).files.map((f) => f.rel);
    expect(pick(one)).toEqual(pick(two));
    expect(pick(one)).toEqual([SORTED[0], SORTED[3], SORTED[6]]);
  });

  it('without a suffix takes every image and npz file', () => {
    const dir = fresh();
    touch(path.join(dir, 'data'), ['1.jpg', '2.PNG', '3.npz', '4.txt', '5.webp', '6.json']);
    const sel = selectCalibrationFiles(configIn(dir, 'dataset:\n  path: data\n'), () => {});
    expect(sel.files.map((f) => f.rel)).toEqual(['1.jpg', '2.PNG', '3.npz', '5.webp']);
  });

  it('fewer files than get_data_num: a located warning, and all of them', () => {
    const dir = fresh();
    touch(path.join(dir, 'data'), ['x/1.JPEG', 'x/2.JPEG']);
    const warnings: string[] = [];
    const sel = selectCalibrationFiles(configIn(dir, 'dataset:\n  path: data\n  sampler:\n    suffix: JPEG\n    get_data_num: 50\n'), (l) => warnings.push(l));
    expect(sel.files).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/c\.yaml:8:\d+ dataset\.sampler\.get_data_num: 50 files wanted, .* has only 2 .*; calibrating on all 2$/);
  });

  it('located errors: no dataset, no path, missing folder, a file, nothing matching', () => {
    const dir = fresh();
    touch(dir, ['file.JPEG']);
    fs.mkdirSync(path.join(dir, 'empty', 'sub'), { recursive: true });
    touch(path.join(dir, 'empty'), ['sub/a.jpg']);
    const cases: [string, string, RegExp][] = [
      ['', 'CALIB_NO_DATASET', /c\.yaml:3:\d+ backend\.dtype: int8 builds calibrate on images: add a dataset/],
      ['dataset:\n  sampler: {suffix: JPEG}\n', 'CONFIG_MISSING_KEY', /c\.yaml:4:1 dataset: missing required key "path"/],
      ['dataset:\n  path: nowhere\n', 'DATASET_MISSING', /c\.yaml:5:9 dataset\.path: no such folder: .*nowhere \(expected a folder of calibration images\)/],
      ['dataset:\n  path: file.JPEG\n', 'DATASET_NOT_FOLDER', /c\.yaml:5:9 dataset\.path: .*file\.JPEG is a file, expected a folder/],
      ['dataset:\n  path: empty\n  sampler: {suffix: JPEG}\n', 'DATASET_EMPTY', /c\.yaml:5:9 dataset\.path: no files with suffix "JPEG" \(dataset\.sampler\.suffix, any case\) under .*empty \(searched recursively\)/],
    ];
    for (const [body, code, message] of cases) {
      const e = thrown(() => selectCalibrationFiles(configIn(dir, body), () => {}));
      expect(e.code, body).toBe(code);
      expect(e.message, body).toMatch(message);
    }
  });
});

describe('sample recipes', () => {
  it('a float model with the zoo ops: [3,224,224] channels first', () => {
    const dir = fresh();
    const r = sampleRecipe(configIn(dir, `dataset:\n  path: data\n${ZOO_OPS}`), floatModel(224, 224).graph.inputs[0], undefined, () => {});
    expect(r.kind).toBe('process-ops');
    expect(r.input).toMatchObject({ dtype: 'float32', layout: 'chw', h: 224, w: 224 });
  });

  it('process_ops that do not produce the input shape: CALIB_SHAPE located at dataset.process_ops', () => {
    const dir = fresh();
    const wrongSize = thrown(() => sampleRecipe(configIn(dir, `dataset:\n  path: data\n${ZOO_OPS}`), floatModel(192, 192).graph.inputs[0], undefined, () => {}));
    expect(wrongSize.code).toBe('CALIB_SHAPE');
    expect(wrongSize.message).toMatch(/c\.yaml:7:5 dataset\.process_ops: process_ops produce \[3, 224, 224\], but the model input "x" takes \[3, 192, 192\] per sample/);
    const noToTensor = thrown(() => sampleRecipe(configIn(dir, `dataset:\n  path: data\n${ZOO_OPS.replace('    - type: ToTensor\n', '')}`), floatModel(224, 224).graph.inputs[0], undefined, () => {}));
    expect(noToTensor.code).toBe('CALIB_SHAPE');
    expect(noToTensor.message).toMatch(/produce \[224, 224, 3\], .* takes \[3, 224, 224\] per sample \(add ToTensor/);
    // Channels-last model: the same ops without ToTensor fit.
    expect(sampleRecipe(configIn(dir, `dataset:\n  path: data\n${ZOO_OPS.replace('    - type: ToTensor\n', '')}`), floatModel(224, 224, 'hwc').graph.inputs[0], undefined, () => {}).input.layout).toBe('hwc');
  });

  it('an image whose size the ops do not fix: checked per image, the error names it', async () => {
    const dir = fresh();
    const config = configIn(dir, 'dataset:\n  path: data\n  process_ops:\n    - type: Normalize\n      mean: [0.5, 0.5, 0.5]\n      std: [0.5, 0.5, 0.5]\n    - type: ToTensor\n');
    const recipe = sampleRecipe(config, floatModel(16, 16).graph.inputs[0], undefined, () => {});
    const file = path.join(dir, 'img.npz');
    writeNpz(file, { input_0: { dtype: 'uint8', shape: [3, 16, 20], data: new Uint8Array(3 * 16 * 20) } });
    const err = (await loadSample({ file, rel: 'img.npz' }, recipe).catch((e: unknown) => e)) as RebakeError;
    expect(err.code).toBe('CALIB_SHAPE');
    expect(err.message).toContain(`process_ops produce [3, 16, 20] for ${file}`);
    writeNpz(file, { input_0: { dtype: 'uint8', shape: [3, 16, 16], data: new Uint8Array(3 * 16 * 16).fill(255) } });
    const ok = await loadSample({ file, rel: 'img.npz' }, recipe);
    expect('data' in ok && [...ok.data.subarray(0, 3)]).toEqual([1, 1, 1]);
  });

  it('Resize after Normalize, DecodeImage not first: CALIB_PROCESS_OPS at the op', () => {
    const dir = fresh();
    const late = thrown(() => sampleRecipe(configIn(dir, 'dataset:\n  path: data\n  process_ops:\n    - type: Normalize\n      mean: [0.5, 0.5, 0.5]\n      std: [0.5, 0.5, 0.5]\n    - type: Resize\n      size: [8, 8]\n'), floatModel(8, 8).graph.inputs[0], undefined, () => {}));
    expect(late.code).toBe('CALIB_PROCESS_OPS');
    expect(late.message).toMatch(/c\.yaml:10:7 dataset\.process_ops\[1\]: Resize must come before Normalize/);
    const decode = thrown(() => sampleRecipe(configIn(dir, 'dataset:\n  path: data\n  process_ops:\n    - type: ToTensor\n    - type: DecodeImage\n'), floatModel(8, 8).graph.inputs[0], undefined, () => {}));
    expect(decode.code).toBe('CALIB_PROCESS_OPS');
    expect(decode.message).toMatch(/dataset\.process_ops\[1\]: DecodeImage must be the first op/);
  });

  it('a float model without process_ops or vdsp params: CALIB_NO_PROCESS_OPS (unless the files are npz tensors)', () => {
    const dir = fresh();
    const e = thrown(() => sampleRecipe(configIn(dir, 'dataset:\n  path: data\n  sampler: {suffix: JPEG}\n'), floatModel(8, 8).graph.inputs[0], undefined, () => {}));
    expect(e.code).toBe('CALIB_NO_PROCESS_OPS');
    expect(e.message).toMatch(/c\.yaml:4:1 dataset: the model takes float32 input "x": add dataset\.process_ops/);
    expect(sampleRecipe(configIn(dir, 'dataset:\n  path: data\n  sampler: {suffix: npz}\n'), floatModel(8, 8).graph.inputs[0], undefined, () => {}).kind).toBe('tensor');
  });

  it('a uint8 (baked) model takes the images as is and says process_ops are not applied', () => {
    const dir = fresh();
    const notices: string[] = [];
    const r = sampleRecipe(configIn(dir, `dataset:\n  path: data\n${ZOO_OPS}`), uint8Model(256, 256).graph.inputs[0], undefined, (l) => notices.push(l));
    expect(r.kind).toBe('baked');
    expect(notices).toEqual([expect.stringMatching(/c\.yaml:6:3 dataset\.process_ops: not applied: the model takes uint8 images/)]);
  });

  it('model inputs calibration cannot feed: CALIB_INPUT naming the model', () => {
    const dir = fresh();
    const config = configIn(dir, 'dataset:\n  path: data\n');
    const m = floatModel(8, 8);
    m.graph.inputs[0].shape = [1, 8, 8];
    expect(thrown(() => sampleRecipe(config, m.graph.inputs[0], undefined, () => {})).code).toBe('CALIB_INPUT');
    m.graph.inputs[0].shape = [4, 3, 8, 8];
    expect(thrown(() => sampleRecipe(config, m.graph.inputs[0], undefined, () => {})).message).toMatch(/model\.onnx: calibration feeds images: the model input "x" \[4, 3, 8, 8\] has a fixed batch of 4/);
  });
});
