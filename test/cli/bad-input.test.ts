/**
 * Every bad input: exit 2, exactly one stderr line naming the file (and YAML/JSON line, key path) and the
 * problem, no stack trace, and nothing left in the workspace. Runs the compiled CLI as a user would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, saveModel } from '../../builders/ir/model.js';
import { PASSES } from '../../builders/passes/index.js';
import { cli, cliAsync } from '../helpers/cli.js';
import { tinyClassifier } from '../helpers/models.js';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const GOOD_VDSP = {
  OpType: 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR',
  OpConfig: {
    IimageFormat: 'RGB_PLANAR', IimageWidth: 10, IimageHeight: 10, OimageWidth: 8, OimageHeight: 8, CropX: 1, CropY: 1,
    ResizeWidth: 10, ResizeHeight: 10, Mean: [0.485, 0.456, 0.406], Std: [0.229, 0.224, 0.225],
    NormaType: 'DIV255_MINUSMEAN_DIVSTD', ColorCvtCode: 'NO_CHANGE', ResizeType: 'BILINEAR_CV',
  },
};

function yamlConfig(over: { checkpoint?: string; extra?: string; dtype?: string; shape?: string } = {}): string {
  return `name: tiny
frontend:
  type: onnx
  checkpoint: ${over.checkpoint ?? 'model.onnx'}
  shape:
    x: ${over.shape ?? '[1, 3, 8, 8]'}
backend:
  type: onnxruntime
  dtype: ${over.dtype ?? 'fp32'}
workspace:
  path: ./ws
${over.extra ?? ''}`;
}

interface Case {
  name: string;
  files: Record<string, string | Uint8Array>;
  args: string[];
  /** The exact stderr line, with the case folder written as <d>. */
  expected: string;
}

let modelBytes: Uint8Array;
let escapingModel: Uint8Array;

beforeAll(() => {
  modelBytes = encodeModel(tinyClassifier());
  // A model whose weight claims to live in ../outside.bin: must be refused, never read.
  const { onnx } = onnxProto;
  const proto = onnx.ModelProto.decode(modelBytes);
  const w = proto.graph!.initializer!.find((t) => t.name === 'conv1.weight')!;
  w.rawData = new Uint8Array();
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  w.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: '../outside.bin' })];
  escapingModel = onnx.ModelProto.encode(proto).finish();
});

const cases = (): Case[] => [
  { name: 'YAML syntax error', files: { 'c.yaml': 'name: tiny\nfrontend:\n  type: [onnx\n' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:4:1: invalid YAML: <lib>' },
  { name: 'config file missing', files: {}, args: ['build', 'nope.yaml'], expected: 'rebake: nope.yaml: no such file (expected a build config YAML)' },
  { name: 'top level is a list', files: { 'c.yaml': '- a\n- b\n' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml: expected a build config (a mapping at the top level), got a list of 2' },
  { name: 'duplicate key', files: { 'c.yaml': 'name: a\nname: b\n' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:2:1: invalid YAML: <lib>' },
  { name: 'wrong type', files: { 'c.yaml': yamlConfig().replace('name: tiny', 'name: [a, b]') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:1:7 name: must be a string, got a list of 2' },
  { name: 'unknown key with a suggestion', files: { 'c.yaml': `${yamlConfig()}bakend:\n  x: 1\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:12:1 bakend: unknown key (did you mean "backend"?)' },
  { name: 'unknown nested key', files: { 'c.yaml': yamlConfig().replace('  dtype: fp32', '  dtype: fp32\n  dtpye: fp16') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:10:3 backend.dtpye: unknown key (did you mean "dtype"?)' },
  { name: 'missing required key', files: { 'c.yaml': yamlConfig().replace('  checkpoint: model.onnx\n', '') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:2:1 frontend: missing required key "checkpoint"' },
  { name: 'bad enum', files: { 'c.yaml': yamlConfig({ dtype: 'fp64' }) }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:9:10 backend.dtype: must be one of fp32, fp16, int8, got string "fp64"' },
  { name: 'frontend other than onnx', files: { 'c.yaml': yamlConfig().replace('type: onnx', 'type: pytorch') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:3:9 frontend.type: must be one of onnx, got string "pytorch"; rebake reads ONNX only: export the model with torch.onnx.export (or tf2onnx) and set frontend.type: onnx' },
  { name: 'zero size', files: { 'c.yaml': yamlConfig({ shape: '[1, 3, 0, 8]' }) }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:6:15 frontend.shape.x[2]: must be >= 1, got number 0' },
  { name: 'negative resize', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: Resize\n      size: [-256, 256]\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:15:14 dataset.process_ops[0].size[0]: must be >= 1, got number -256' },
  { name: 'crop outside the resized image', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: Resize\n      size: [256, 256]\n    - type: CenterCrop\n      crop_size: [300, 224]\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:17:18 dataset.process_ops[1].crop_size: crop 300x224 is larger than the resized image 256x256' },
  { name: 'mean of wrong length', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: Normalize\n      mean: [0.5, 0.5]\n      std: [0.2, 0.2, 0.2]\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:15:13 dataset.process_ops[0].mean: must have exactly 3 values, got a list of 2' },
  { name: 'std = 0', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: Normalize\n      mean: [0.5, 0.5, 0.5]\n      std: [0.2, 0, 0.2]\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:16:18 dataset.process_ops[0].std[1]: must be > 0, got number 0' },
  { name: 'process op with a foreign key', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: Resize\n      size: [256, 256]\n      crop_size: [224, 224]\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:16:7 dataset.process_ops[0].crop_size: not a key of Resize (expected one of: size)' },
  { name: 'CvtColor code not a channel swap', files: { 'c.yaml': `${yamlConfig()}dataset:\n  process_ops:\n    - type: CvtColor\n      code: BGR2GRAY\n` }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:15:13 dataset.process_ops[0].code: must be one of BGR2RGB, RGB2BGR, NO_CHANGE, got string "BGR2GRAY"' },
  { name: 'percentile 0', files: { 'c.yaml': yamlConfig().replace('  dtype: fp32', '  dtype: fp32\n  quantize:\n    percentile: 0') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:11:17 backend.quantize.percentile: must be > 0, got number 0' },
  { name: 'percentile above 100', files: { 'c.yaml': yamlConfig().replace('  dtype: fp32', '  dtype: fp32\n  quantize:\n    percentile: 100.5') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:11:17 backend.quantize.percentile: must be <= 100, got number 100.5' },
  { name: 'build name with a slash', files: { 'c.yaml': yamlConfig().replace('name: tiny', 'name: a/b') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:1:7 name: must use only letters, digits, ".", "_" and "-", got string "a/b"' },
  { name: 'empty workspace path', files: { 'c.yaml': yamlConfig().replace('path: ./ws', 'path: ""') }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:11:9 workspace.path: must not be empty' },
  { name: 'unknown pass', files: { 'c.yaml': `${yamlConfig()}passes:\n  fold-everything: false\n`, 'model.onnx': 'MODEL' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:13:3 passes.fold-everything: unknown pass "fold-everything"; passes: <passes>' },
  { name: 'int8 without a dataset', files: { 'c.yaml': yamlConfig({ dtype: 'int8' }), 'model.onnx': 'MODEL' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:9:10 backend.dtype: int8 builds calibrate on images: add dataset.path (a folder of calibration images, searched recursively), with dataset.sampler.suffix and get_data_num' },
  { name: 'missing checkpoint', files: { 'c.yaml': yamlConfig() }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:4:15 frontend.checkpoint: no such file: <d>/model.onnx (expected an ONNX model)' },
  { name: 'checkpoint not ONNX', files: { 'c.yaml': yamlConfig(), 'model.onnx': 'name: this is yaml, not onnx\n' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/model.onnx: not an ONNX model (the bytes do not decode as an ONNX protobuf)' },
  { name: 'truncated ONNX', files: { 'c.yaml': yamlConfig(), 'model.onnx': 'TRUNCATED' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/model.onnx: truncated ONNX model (the protobuf ends early after <n> bytes)' },
  { name: 'empty checkpoint', files: { 'c.yaml': yamlConfig(), 'model.onnx': '' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/model.onnx: empty file (expected an ONNX model)' },
  { name: 'external data escaping the folder', files: { 'c.yaml': yamlConfig(), 'model.onnx': 'ESCAPING' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/model.onnx: tensor conv1.weight: external data location "../outside.bin" is outside the model\'s folder' },
  { name: 'input named in frontend.shape missing', files: { 'c.yaml': yamlConfig().replace('    x: [1, 3, 8, 8]', '    input: [1, 3, 8, 8]'), 'model.onnx': 'MODEL' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:6:12 frontend.shape.input: the model has no input "input"; its inputs are: x' },
  { name: 'frontend.shape against the model', files: { 'c.yaml': yamlConfig({ shape: '[1, 3, 224, 224]' }), 'model.onnx': 'MODEL' }, args: ['build', 'c.yaml'], expected: 'rebake: c.yaml:6:8 frontend.shape.x: [1, 3, 224, 224] does not match the model\'s input shape [N, 3, 8, 8]' },
  { name: 'unwritable workspace', files: { 'c.yaml': yamlConfig().replace('path: ./ws', 'path: ./blocker/ws'), 'model.onnx': 'MODEL', blocker: 'a file where a folder should be' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/blocker/ws/tiny: cannot create this folder: <d>/blocker is a file, not a folder' },
  { name: 'vdsp params missing', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json: no such file (expected a vdsp params JSON)' },
  { name: 'vdsp params invalid JSON', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': '{\n  "OpType": "X",\n}\n' }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:3:1: invalid JSON: expected a key in double quotes, found "}"' },
  { name: 'vdsp unknown enum', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': JSON.stringify({ ...GOOD_VDSP, OpConfig: { ...GOOD_VDSP.OpConfig, NormaType: 'DIV256' } }, null, 2) }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:23:18 OpConfig.NormaType: must be one of DIV255_MINUSMEAN_DIVSTD, MINUSMEAN_DIVSTD, DIV255, EQUAL, DIV1275_MINUSONE, got string "DIV256"' },
  { name: 'vdsp crop outside the resize', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': JSON.stringify({ ...GOOD_VDSP, OpConfig: { ...GOOD_VDSP.OpConfig, CropX: 5 } }, null, 2) }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:9:14 OpConfig.CropX: crop 5+8 goes past the resized width 10' },
  { name: 'vdsp std of wrong length', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': JSON.stringify({ ...GOOD_VDSP, OpConfig: { ...GOOD_VDSP.OpConfig, Std: [0.2, 0.2] } }) }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:1:256 OpConfig.Std: must have exactly 3 values, got a list of 2' },
  { name: 'vdsp std = 0', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': JSON.stringify({ ...GOOD_VDSP, OpConfig: { ...GOOD_VDSP.OpConfig, Std: [0.2, 0, 0.2] } }) }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:1:261 OpConfig.Std[1]: must be > 0, got number 0' },
  { name: 'vdsp crop op without crop keys', files: { 'c.yaml': yamlConfig({ extra: 'vdsp_params: p.json\n' }), 'model.onnx': 'MODEL', 'p.json': JSON.stringify({ ...GOOD_VDSP, OpConfig: { ...GOOD_VDSP.OpConfig, CropY: undefined } }) }, args: ['build', 'c.yaml'], expected: 'rebake: <d>/p.json:1:60 OpConfig: missing required key "CropY" (needed by FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR)' },
  { name: 'unknown CLI option', files: {}, args: ['build', 'c.yaml', '--fast'], expected: 'rebake: command line: unknown option --fast; options: --vdsp_params, --json (see rebake build --help)' },
  { name: 'missing positional', files: {}, args: ['build'], expected: 'rebake: command line: expected 1 positional argument(s), got 0 (see rebake build --help)' },
  { name: 'inspect a corrupt model', files: { 'm.onnx': 'name: not a model\n' }, args: ['inspect', 'm.onnx'], expected: 'rebake: m.onnx: not an ONNX model (the bytes do not decode as an ONNX protobuf)' },
];

describe('bad input: exit 2, one located line, nothing written', () => {
  it('covers at least 25 distinct bad inputs', () => {
    expect(cases().length).toBeGreaterThanOrEqual(25);
  });

  for (const c of cases()) {
    it.concurrent(c.name, async () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-bad-'));
      for (const [name, content] of Object.entries(c.files)) {
        const bytes = content === 'MODEL' ? modelBytes : content === 'ESCAPING' ? escapingModel : content === 'TRUNCATED' ? modelBytes.subarray(0, modelBytes.length - 100) : content;
        fs.writeFileSync(path.join(d, name), bytes);
      }
      fs.writeFileSync(path.join(path.dirname(d), 'outside.bin'), Buffer.alloc(432));
      const r = await cliAsync(c.args, { cwd: d });
      const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('notice: '));
      const expected = c.expected
        .replaceAll('<d>', fs.realpathSync(d))
        .replace('<n>', String(modelBytes.length - 100))
        .replace('<passes>', PASSES.map((p) => p.name).join(', '));
      expect(r.status, r.stderr).toBe(2);
      expect(lines).toHaveLength(1);
      // <lib>: text of the library that found the problem (yaml, JSON.parse, protobufjs, parseArgs): not ours to pin.
      expect(lines[0]).toMatch(new RegExp(`^${expected.split('<lib>').map(escapeRegExp).join('\\S.*')}$`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(path.join(d, 'ws'))).toBe(false);
      expect(fs.readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
    });
  }
});

describe('a good config builds', () => {
  it('writes mod.onnx and mod.json into <workspace>/<name>/', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-good-'));
    fs.writeFileSync(path.join(d, 'c.yaml'), yamlConfig());
    saveModel(tinyClassifier(), path.join(d, 'model.onnx'));
    const r = cli(['build', 'c.yaml', '--json'], { cwd: d });
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(r.stdout);
    expect(manifest.name).toBe('tiny');
    expect(manifest.params_before).toBe(234);
    expect(manifest.macs_before).toBe(7504);
    expect(fs.readdirSync(path.join(d, 'ws', 'tiny')).sort()).toEqual(['mod.json', 'mod.onnx']);
    expect(JSON.parse(fs.readFileSync(path.join(d, 'ws', 'tiny', 'mod.json'), 'utf8'))).toEqual(manifest);
  });
});
