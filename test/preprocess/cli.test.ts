/** The baked preprocessing through the compiled CLI: a build, `inspect` of the bare .onnx, and a model mismatch. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../builders/ir/model.js';
import { tinyClassifier } from '../helpers/models.js';
import { cli } from '../helpers/cli.js';

const VDSP = {
  OpType: 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR',
  OpConfig: {
    IimageFormat: 'RGB_PLANAR', IimageWidth: 10, IimageHeight: 10, OimageWidth: 8, OimageHeight: 8, CropX: 1, CropY: 1,
    ResizeWidth: 10, ResizeHeight: 10, Mean: [0.485, 0.456, 0.406], Std: [0.229, 0.224, 0.225],
    NormaType: 'DIV255_MINUSMEAN_DIVSTD', ColorCvtCode: 'BGR2RGB', ResizeType: 'BILINEAR_CV',
  },
};

let dir: string;
const rebake = (...args: string[]) => cli(args, { cwd: dir });

function config(name: string, vdspFile: string): string {
  const file = `${name}.yaml`;
  fs.writeFileSync(path.join(dir, file), `name: ${name}\nfrontend:\n  type: onnx\n  checkpoint: model.onnx\nbackend:\n  type: onnxruntime\n  dtype: fp32\ngraph:\n  extra_ops:\n    type: softmax\nvdsp_params: ${vdspFile}\nworkspace:\n  path: ./ws\n`);
  return file;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-pre-cli-'));
  saveModel(tinyClassifier(), path.join(dir, 'model.onnx'));
  fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify(VDSP, null, 2));
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ ...VDSP, OpConfig: { ...VDSP.OpConfig, OimageWidth: 7 } }, null, 2));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('rebake build with vdsp params', () => {
  it('builds a uint8-input model with a softmax; inspect on the bare .onnx shows where each step went', () => {
    const b = rebake('build', config('ok', 'p.json'));
    expect(b.status, b.stderr).toBe(0);
    const i = rebake('inspect', path.join('ws', 'ok', 'mod.onnx'), '--json');
    expect(i.status).toBe(0);
    const stats = JSON.parse(i.stdout);
    expect(stats.inputs).toEqual([{ name: 'x', dtype: 'uint8', shape: ['N', 3, 10, 10] }]);
    expect(stats.ops.Softmax).toBe(1);
    expect(stats.preprocess.steps.map((s: { step: string; placement: string }) => `${s.step}:${s.placement}`)).toEqual([
      'resize:none', 'crop:graph', 'channel swap:folded', 'scale:folded', 'mean:graph',
    ]);
  });

  it('output size that does not match the network input: exit 2, one line naming the JSON file and field', () => {
    const r = rebake('build', config('bad', 'bad.json'));
    expect(r.status).toBe(2);
    // Progress lines of the passes before it, then exactly one error line.
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('rebake:'));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^rebake: ${path.join(dir, 'bad.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.* OpConfig\\.OimageWidth: 7 does not match the network input width 8`));
    expect(fs.existsSync(path.join(dir, 'ws', 'bad'))).toBe(false);
  });
});
