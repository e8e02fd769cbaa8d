/**
 * The shipped configs: one per zoo RepVGG variant (+ official_repvgg.yaml = A0), each loading with its vdsp
 * params; and the demo model's, whose preprocessing is the one its training recorded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBuildConfig, loadVdspParams } from '../../builders/config/load.js';

const VARIANTS = ['a0', 'a1', 'a2', 'b0', 'b1', 'b1g2', 'b1g4', 'b2', 'b2g4', 'b3', 'b3g4'];

describe('configs/ and vdsp_params/', () => {
  it('hold exactly the 11 zoo variants, each config naming its own checkpoint, params and build', () => {
    const official = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('official')).sort();
    expect(official('configs')).toEqual(['official_repvgg.yaml', ...VARIANTS.map((v) => `official_repvgg_${v}.yaml`)].sort());
    expect(official('vdsp_params')).toEqual(VARIANTS.map((v) => `official-repvgg_${v}-vdsp_params.json`).sort());
    for (const v of VARIANTS) {
      const notices: string[] = [];
      const c = loadBuildConfig(`configs/official_repvgg_${v}.yaml`, { notice: (l) => notices.push(l) });
      expect(notices).toEqual([]);
      expect(c.name).toBe(`official_repvgg_${v}_fp32`);
      expect(c.backend).toMatchObject({ type: 'onnxruntime', dtype: 'fp32' });
      expect(c.graph.extra_ops).toEqual({ type: 'softmax' });
      expect(c.frontend.checkpoint).toBe(path.resolve(`deploy_weights/zoo/repvgg_${v}.onnx`));
      expect(c.workspace.path).toBe(path.resolve('deploy_weights'));
      expect(c.vdsp_params).toBe(path.resolve(`vdsp_params/official-repvgg_${v}-vdsp_params.json`));
      expect(loadVdspParams(c.vdsp_params!).OpConfig).toMatchObject({ IimageWidth: 256, OimageWidth: 224, CropX: 16, ResizeType: 'BILINEAR_CV' });
    }
    expect(fs.readFileSync('configs/official_repvgg.yaml', 'utf8')).toBe(fs.readFileSync('configs/official_repvgg_a0.yaml', 'utf8'));
  });

  it('demo_fp32.yaml: the trained demo model, its params and calibration set, the training preprocessing', () => {
    const c = loadBuildConfig('configs/demo_fp32.yaml');
    expect(c.name).toBe('demo_repvgg_fmnist_fp32');
    expect(c.backend).toMatchObject({ type: 'onnxruntime', dtype: 'fp32' });
    expect(c.graph.extra_ops).toEqual({ type: 'softmax' });
    expect(c.frontend.checkpoint).toBe(path.resolve('tools/demo_model/repvgg_fmnist.onnx'));
    expect(c.dataset?.path).toBe(path.resolve('tools/demo_model/images'));
    const trained = JSON.parse(fs.readFileSync('tools/demo_model/metrics.json', 'utf8')).preprocessing;
    const op = loadVdspParams(c.vdsp_params!).OpConfig;
    expect(op).toMatchObject({ IimageWidth: 28, IimageHeight: 28, ResizeWidth: trained.resize[0], ResizeHeight: trained.resize[1], CropX: trained.crop_at[0], CropY: trained.crop_at[1], OimageWidth: trained.crop[0], OimageHeight: trained.crop[1], NormaType: 'DIV255_MINUSMEAN_DIVSTD', ResizeType: 'BILINEAR_CV', ColorCvtCode: 'NO_CHANGE' });
    expect(op.Mean).toEqual([trained.mean, trained.mean, trained.mean]);
    expect(op.Std).toEqual([trained.std, trained.std, trained.std]);
    expect(c.dataset!.process_ops!.find((o) => o.type === 'Normalize')).toMatchObject({ mean: op.Mean, std: op.Std });
    expect(fs.readFileSync('tools/demo_model/labels.txt', 'utf8').trim().split('\n')).toHaveLength(10);
  });

  it('demo_fp16.yaml and demo_int8.yaml: demo_fp32.yaml with another name and dtype (int8: per channel, percentile)', () => {
    const fp32 = loadBuildConfig('configs/demo_fp32.yaml');
    const strip = (c: ReturnType<typeof loadBuildConfig>) => ({ ...c, file: undefined, name: undefined, backend: undefined, locate: undefined });
    for (const dtype of ['fp16', 'int8'] as const) {
      const c = loadBuildConfig(`configs/demo_${dtype}.yaml`);
      expect(c.name).toBe(`demo_repvgg_fmnist_${dtype}`);
      expect(c.backend.dtype).toBe(dtype);
      expect(strip(c)).toEqual(strip(fp32));
    }
    expect(loadBuildConfig('configs/demo_int8.yaml').backend.quantize).toEqual({ calibrate_mode: 'percentile', quantize_per_channel: true });
  });
});
