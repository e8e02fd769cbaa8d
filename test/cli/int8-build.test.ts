/**
 * `backend.dtype: int8` through the compiled CLI: the zoo's own int8 YAML as it is (zoo A0, the committed
 * photos), what onnxruntime makes of the result, reproducibility, and an op that cannot be quantized.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveModel } from '../../builders/ir/model.js';
import { writeNpz } from '../../core/npz.js';
import { cli } from '../helpers/cli.js';
import { tinyClassifier } from '../helpers/models.js';
import { seededFloats } from '../helpers/ort.js';
import { floatConvs, optimizedOps } from '../helpers/quantize.js';

let dir: string;
const rebake = (...args: string[]) => cli(args, { cwd: dir });
const BUILD = () => path.join(dir, 'configs', 'deploy_weights', 'official_repvgg_int8');
let first: ReturnType<typeof cli>;

beforeAll(() => {
  // The repository's layout around the YAML: configs/, deploy_weights/zoo/, test/fixtures/calib_photos/.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-int8-'));
  fs.mkdirSync(path.join(dir, 'configs'));
  fs.copyFileSync('configs/zoo_official_repvgg_int8.yaml', path.join(dir, 'configs', 'zoo_official_repvgg_int8.yaml'));
  fs.cpSync('test/fixtures/calib_photos', path.join(dir, 'test', 'fixtures', 'calib_photos'), { recursive: true });
  const z = rebake('zoo', 'A0', '--out', path.join('deploy_weights', 'zoo', 'repvgg_a0.onnx'));
  expect(z.status, z.stderr).toBe(0);
  first = rebake('build', path.join('configs', 'zoo_official_repvgg_int8.yaml'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the zoo's official_repvgg.yaml (int8) as it is", () => {
  it('builds, warning that 4 photos stand in for get_data_num 50', () => {
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^warning: configs\/zoo_official_repvgg_int8\.yaml:\d+:\d+ dataset\.sampler\.get_data_num: 50 files wanted, .* has only 4 .*; calibrating on all 4$/m);
    expect(first.stderr).toMatch(/^quantize-int8: 23 change\(s\)/m);
  });

  it('onnxruntime runs every Conv as QLinearConv and the classifier as QGemm, nothing float on the quantized path', async () => {
    const ops = await optimizedOps(loadModel(path.join(BUILD(), 'mod.onnx')), path.join(dir, 'opt.onnx'));
    expect(ops['com.microsoft.QLinearConv']).toBe(22);
    expect(floatConvs(ops)).toBe(0);
    expect(ops['com.microsoft.QGemm']).toBe(1);
    expect(ops.Gemm ?? 0).toBe(0);
    // The appended softmax stays float, after the float logits.
    expect(ops.Softmax).toBe(1);
  });

  it('records the calibration in the manifest; the same build twice is byte-identical', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(BUILD(), 'mod.json'), 'utf8'));
    const pass = manifest.passes.find((p: { name: string }) => p.name === 'quantize-int8');
    expect(manifest.dtype).toBe('int8');
    expect(pass.details).toMatchObject({ activation_type: 'uint8', per_channel: true, calibration: { mode: 'percentile', percentile: 99.999, files_found: 4, files_used: 4 } });
    expect(pass.details.calibration.files_sha256).toMatch(/^[0-9a-f]{64}$/);
    const tensors = Object.values(pass.details.tensors) as { min: number; max: number; scale: number; zero_point: number }[];
    expect(tensors).toHaveLength(24);
    for (const t of tensors) {
      expect(t.min).toBeLessThanOrEqual(0);
      expect(t.scale).toBeCloseTo((Math.max(t.max, 0) - Math.min(t.min, 0)) / 255, 6);
    }
    expect(pass.details.kept_float).toEqual([]);
    const bytes = fs.readFileSync(path.join(BUILD(), 'mod.onnx'));
    const again = rebake('build', path.join('configs', 'zoo_official_repvgg_int8.yaml'));
    expect(again.status, again.stderr).toBe(0);
    expect(fs.readFileSync(path.join(BUILD(), 'mod.onnx')).equals(bytes)).toBe(true);
    // A quarter of the fp32 bytes, about: int8 weights.
    expect(bytes.byteLength).toBeLessThan(0.3 * 33e6);
  });

  it('inspect and run take the int8 build', () => {
    const i = rebake('inspect', path.join(BUILD(), 'mod'), '--json');
    expect(i.status, i.stderr).toBe(0);
    expect(JSON.parse(i.stdout).ops).toMatchObject({ QuantizeLinear: 24, Conv: 22 });
    const r = rebake('run', '-m', path.join(BUILD(), 'mod'), '-b', '2', '--iterations', '2');
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('int8 build of a model with an op that cannot be quantized', () => {
  it('leaves it float, says so on stderr and in the manifest, quantizes the rest', async () => {
    const m = tinyClassifier();
    const g = m.graph;
    const relu = g.addNode({ name: 'w_relu', opType: 'Relu', inputs: ['conv2.weight'], outputs: ['w2_computed'] });
    g.setInput(g.node('conv2')!, 1, null, relu.outputs[0]);
    const sub = path.join(dir, 'odd');
    fs.mkdirSync(path.join(sub, 'calib'), { recursive: true });
    saveModel(m, path.join(sub, 'model.onnx'));
    for (let i = 0; i < 6; i++) writeNpz(path.join(sub, 'calib', `${i}.npz`), { input_0: { dtype: 'float32', shape: [3, 8, 8], data: seededFloats(192, 50 + i) } });
    fs.writeFileSync(path.join(sub, 'c.yaml'), 'name: odd\nfrontend:\n  type: onnx\n  checkpoint: model.onnx\nbackend:\n  type: onnxruntime\n  dtype: int8\ndataset:\n  path: calib\n  sampler:\n    suffix: npz\nworkspace:\n  path: ws\n');
    const r = cli(['build', 'c.yaml'], { cwd: sub });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: Conv conv2 left in float: its weight w2_computed is not a constant$/m);
    const manifest = JSON.parse(fs.readFileSync(path.join(sub, 'ws', 'odd', 'mod.json'), 'utf8'));
    const pass = manifest.passes.find((p: { name: string }) => p.name === 'quantize-int8');
    expect(pass.details.kept_float).toEqual([{ node: 'conv2', why: 'cannot be quantized: its weight w2_computed is not a constant' }]);
    const ops = await optimizedOps(loadModel(path.join(sub, 'ws', 'odd', 'mod.onnx')), path.join(sub, 'opt.onnx'));
    expect(ops['com.microsoft.QLinearConv']).toBe(1);
    expect(floatConvs(ops)).toBe(1);
  });
});

describe('int8 calibration input problems through the CLI', () => {
  const OPS = '  process_ops:\n    - type: DecodeImage\n    - type: Resize\n      size: [10, 10]\n    - type: CenterCrop\n      crop_size: [SIZE, SIZE]\n    - type: Normalize\n      mean: [0.5, 0.5, 0.5]\n      std: [0.25, 0.25, 0.25]\n    - type: ToTensor\n';
  let sub: string;
  const yaml = (folder: string, crop = 8, num = 2) => `name: calib\nfrontend:\n  type: onnx\n  checkpoint: model.onnx\nbackend:\n  type: onnxruntime\n  dtype: int8\ndataset:\n  path: ${folder}\n  sampler:\n    suffix: png\n    get_data_num: ${num}\n${OPS.replace(/SIZE/g, String(crop))}workspace:\n  path: ws\n`;
  const build = (text: string) => {
    fs.writeFileSync(path.join(sub, 'c.yaml'), text);
    return cli(['build', 'c.yaml'], { cwd: sub });
  };

  beforeAll(async () => {
    const sharp = (await import('sharp')).default;
    sub = path.join(dir, 'calib');
    for (const d of ['good', 'bad', 'empty']) fs.mkdirSync(path.join(sub, d), { recursive: true });
    saveModel(tinyClassifier(), path.join(sub, 'model.onnx'));
    for (const [i, name] of ['a.png', 'b.png'].entries()) {
      const pixels = Buffer.from(seededFloats(12 * 12 * 3, 70 + i).map((v) => Math.round((v + 1) * 127)));
      await sharp(pixels, { raw: { width: 12, height: 12, channels: 3 } }).png().toFile(path.join(sub, 'good', name));
    }
    fs.copyFileSync(path.join(sub, 'good', 'a.png'), path.join(sub, 'bad', 'a.png'));
    fs.writeFileSync(path.join(sub, 'bad', 'broken.png'), 'not a png');
    fs.writeFileSync(path.join(sub, 'empty', 'only-broken.png'), 'not a png');
  });

  it('an unreadable image is skipped and named; the build goes on with the rest', () => {
    const r = build(yaml('bad'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: calibration: skipped .*broken\.png: .+$/m);
    const cal = JSON.parse(fs.readFileSync(path.join(sub, 'ws', 'calib', 'mod.json'), 'utf8')).passes.find((p: { name: string }) => p.name === 'quantize-int8').details.calibration;
    expect(cal).toMatchObject({ files_found: 2, files_used: 1 });
    fs.rmSync(path.join(sub, 'ws'), { recursive: true });
  });

  const refused: [string, () => string, RegExp][] = [
    ['missing calibration folder', () => yaml('nowhere'), /^rebake: c\.yaml:\d+:\d+ dataset\.path: .*nowhere/],
    ['a folder without images', () => yaml('good').replace('suffix: png', 'suffix: JPEG'), /^rebake: c\.yaml:\d+:\d+ dataset\.path: no files with suffix "JPEG"/],
    ['no readable image left', () => yaml('empty'), /^rebake: .*only-broken\.png/],
    ['process_ops that do not make the input shape', () => yaml('good', 6), /^rebake: c\.yaml:\d+:\d+ dataset\.process_ops: process_ops produce \[3, 6, 6\], but the model input "x" takes \[3, 8, 8\]/],
  ];
  for (const [what, text, expected] of refused) {
    it(`${what}: one located line, exit 2, nothing in the workspace`, () => {
      const r = build(text());
      expect(r.status, r.stderr).toBe(2);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('rebake:'));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(expected);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(path.join(sub, 'ws', 'calib'))).toBe(false);
    });
  }
});
