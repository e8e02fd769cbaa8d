/** The zoo's own files load as they are: its build YAML (with notices for the hardware-only parts) and every vdsp params file. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBuildConfig, loadVdspParams } from '../../builders/config/load.js';

describe('the zoo files load unchanged', () => {
  it('official_repvgg.yaml (tvm_vacc backend, compile keys, int8, dataset) loads with exactly two notices', () => {
    const notices: string[] = [];
    const file = 'test/fixtures/vamc/official_repvgg.yaml';
    const cfg = loadBuildConfig(file, { notice: (l) => notices.push(l) });
    expect(notices).toEqual([
      `${file}:15:9 backend.type: tvm_vacc is read as onnxruntime (rebake targets ONNX Runtime)`,
      `${file}:17:3 backend.compile: hardware-only options, ignored on ONNX Runtime`,
    ]);
    expect(cfg.name).toBe('official_repvgg_int8');
    expect(cfg.backend).toEqual({ type: 'onnxruntime', dtype: 'int8', quantize: { calibrate_mode: 'percentile', quantize_per_channel: true } });
    expect(cfg.frontend.checkpoint).toBe('/path/to/repvgg_a0.onnx');
    expect(cfg.frontend.shape).toEqual({ input: [1, 3, 224, 224] });
    expect(cfg.graph.extra_ops).toEqual({ type: 'softmax' });
    expect(cfg.dataset?.process_ops?.map((o) => o.type)).toEqual(['DecodeImage', 'Resize', 'CenterCrop', 'Normalize', 'ToTensor']);
    // Relative paths resolve against the YAML's folder, not the current one.
    expect(cfg.workspace.path).toBe(path.resolve('test/fixtures/vamc/deploy_weights'));
    expect(cfg.locate('backend.dtype')).toMatchObject({ line: 16, column: 10 });
  });

  it('--vdsp_params overrides the YAML key and resolves against the current folder', () => {
    const cfg = loadBuildConfig('configs/official_repvgg.yaml', { vdspParams: 'vdsp_params/official-repvgg_b0-vdsp_params.json' });
    expect(cfg.vdsp_params).toBe(path.resolve('vdsp_params/official-repvgg_b0-vdsp_params.json'));
    expect(loadBuildConfig('configs/official_repvgg.yaml').vdsp_params).toBe(path.resolve('vdsp_params/official-repvgg_a0-vdsp_params.json'));
  });

  const params = fs.readdirSync('test/fixtures/preprocess/params').filter((f) => f.endsWith('.json'));
  it('has every vdsp params file of the zoo copy', () => {
    expect(params.length).toBe(15);
  });
  for (const f of params) {
    it(`vdsp params ${f} loads`, () => {
      const p = loadVdspParams(path.join('test/fixtures/preprocess/params', f));
      const raw = JSON.parse(fs.readFileSync(path.join('test/fixtures/preprocess/params', f), 'utf8'));
      expect(p).toEqual(raw);
    });
  }

  it('every shipped zoo config loads and points at its own variant (the demo configs: configs.test.ts)', () => {
    for (const f of fs.readdirSync('configs').filter((name) => name.startsWith('official'))) {
      const cfg = loadBuildConfig(path.join('configs', f));
      const variant = /official_repvgg_(\w+)\.yaml/.exec(f)?.[1] ?? 'a0';
      expect(cfg.vdsp_params).toBe(path.resolve(`vdsp_params/official-repvgg_${variant}-vdsp_params.json`));
      expect(fs.existsSync(cfg.vdsp_params!)).toBe(true);
      expect(cfg.frontend.checkpoint).toBe(path.resolve(`deploy_weights/zoo/repvgg_${variant}.onnx`));
    }
  });

  it("the zoo's int8 YAML as it is: only the checkpoint and the calibration folder point at real files", () => {
    const notices: string[] = [];
    const cfg = loadBuildConfig('configs/zoo_official_repvgg_int8.yaml', { notice: (l) => notices.push(l) });
    expect(cfg.name).toBe('official_repvgg_int8');
    expect(cfg.backend).toMatchObject({ type: 'onnxruntime', dtype: 'int8', quantize: { calibrate_mode: 'percentile', quantize_per_channel: true } });
    expect(notices.map((l) => l.replace(/^.*?\d+:\d+ /, ''))).toEqual([
      'backend.type: tvm_vacc is read as onnxruntime (rebake targets ONNX Runtime)',
      'backend.compile: hardware-only options, ignored on ONNX Runtime',
    ]);
    expect(cfg.dataset).toMatchObject({ type: 'tvm', path: path.resolve('test/fixtures/calib_photos'), sampler: { suffix: 'JPEG', get_data_num: 50 } });
    expect(cfg.dataset!.process_ops!.map((o) => o.type)).toEqual(['DecodeImage', 'Resize', 'CenterCrop', 'Normalize', 'ToTensor']);
    expect(cfg.frontend.checkpoint).toBe(path.resolve('deploy_weights/zoo/repvgg_a0.onnx'));
    expect(cfg.vdsp_params).toBeUndefined();
    expect(fs.readdirSync('test/fixtures/calib_photos').filter((n) => n.endsWith('.JPEG'))).toHaveLength(4);
  });
});
