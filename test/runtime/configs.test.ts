/** The shipped configs: one per zoo RepVGG variant (+ official_repvgg.yaml = A0), each loading with its vdsp params. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBuildConfig, loadVdspParams } from '../../builders/config/load.js';

const VARIANTS = ['a0', 'a1', 'a2', 'b0', 'b1', 'b1g2', 'b1g4', 'b2', 'b2g4', 'b3', 'b3g4'];

describe('configs/ and vdsp_params/', () => {
  it('hold exactly the 11 variants, each config naming its own checkpoint, params and build', () => {
    // The zoo int8 YAML keeps the zoo's workspace (./deploy_weights/ beside it): builds may sit in configs/.
    expect(fs.readdirSync('configs').filter((f) => f.endsWith('.yaml')).sort()).toEqual(['official_repvgg.yaml', 'zoo_official_repvgg_int8.yaml', ...VARIANTS.map((v) => `official_repvgg_${v}.yaml`)].sort());
    expect(fs.readdirSync('vdsp_params').sort()).toEqual(VARIANTS.map((v) => `official-repvgg_${v}-vdsp_params.json`).sort());
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
});
