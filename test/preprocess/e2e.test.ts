/**
 * End to end through the build pipeline: zoo RepVGG-A0 (train-time, seeded weights) built with the official
 * A0 vdsp params and `extra_ops: softmax`, fed uint8 images, against the un-baked deploy build (same passes,
 * no vdsp, no softmax) fed the Python (OpenCV + numpy) preprocessed float tensors of the fixtures.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuild, type BuildResult } from '../../builders/build.js';
import { loadModel, saveModel } from '../../builders/ir/model.js';
import { repvggModel } from '../../builders/zoo/repvgg.js';
import { imageForBakedModel } from '../../builders/preprocess/host.js';
import '../helpers/dist.js';
import { expected, image, index, normalizedExpected, preprocessRecord, vdsp } from './fixtures.js';

const VDSP = path.resolve('vdsp_params/official-repvgg_a0-vdsp_params.json');
const BATCH = 8;

let dir: string;
let baked: BuildResult;
let plain: BuildResult;

function yaml(name: string, extra: string): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}\nfrontend:\n  type: onnx\n  checkpoint: a0.onnx\nbackend:\n  type: onnxruntime\n  dtype: fp32\nworkspace:\n  path: ws\n${extra}`);
  return file;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-e2e-'));
  saveModel(repvggModel('A0', { dynamicBatch: true, seed: 7 }), path.join(dir, 'a0.onnx'));
  baked = await runBuild(yaml('a0_baked', `graph:\n  extra_ops:\n    type: softmax\nvdsp_params: ${VDSP}\n`));
  plain = await runBuild(yaml('a0_plain', ''));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function top5(p: ArrayLike<number>): number[] {
  return [...Array(p.length).keys()].sort((a, b) => p[b] - p[a]).slice(0, 5);
}

describe('RepVGG-A0 with baked preprocessing and softmax', () => {
  it('the manifest records the checkpoint: size and sha256 of the file as it is on disk (the passes rewrite the weights in memory)', () => {
    const bytes = fs.readFileSync(path.join(dir, 'a0.onnx'));
    expect(baked.manifest.source).toEqual({ path: path.join(dir, 'a0.onnx'), bytes: bytes.byteLength, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });
    expect(plain.manifest.source.sha256).toBe(baked.manifest.source.sha256);
  });

  it('has a uint8 image input and a folded stem, recorded in the manifest and the model metadata', () => {
    expect(baked.manifest.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual([['input', 'uint8', ['batch_size', 3, 256, 256]]]);
    const rec = baked.manifest.passes.find((p) => p.name === 'bake-preprocess')!;
    expect(rec.status).toBe('applied');
    expect(rec.changes.some((l) => /^scale: .*folded into the weights of Conv \/stage0\//.test(l))).toBe(true);
    const model = loadModel(baked.modelPath);
    const steps = preprocessRecord(model).steps.map((s) => `${s.step}:${s.placement}`);
    expect(steps).toEqual(['resize:none', 'crop:graph', 'channel swap:none', 'scale:folded', 'mean:graph']);
    const ops = model.graph.topoSort().map((n) => n.opType);
    expect(ops.slice(0, 4)).toEqual(['Slice', 'Cast', 'Sub', 'Conv']);
    expect(ops.at(-1)).toBe('Softmax');
    expect(ops.filter((t) => t === 'Mul' || t === 'Div')).toEqual([]);
  });

  it('top-5 identical and probabilities within 1e-4 of the un-baked model on Python-preprocessed tensors', async () => {
    const p = vdsp('repvgg');
    const entries = index.expected.filter((e) => e.config === 'repvgg');
    const opts = { graphOptimizationLevel: 'disabled' as const, intraOpNumThreads: 1 };
    const sBaked = await ort.InferenceSession.create(baked.modelPath, opts);
    const sPlain = await ort.InferenceSession.create(plain.modelPath, opts);
    let worst = 0;
    let compared = 0;
    for (let b = 0; b < entries.length; b += BATCH) {
      const batch = entries.slice(b, b + BATCH);
      const u8 = new Uint8Array(batch.length * 3 * 256 * 256);
      const f32 = new Float32Array(batch.length * 3 * 224 * 224);
      batch.forEach((e, i) => {
        const img = image(e.image);
        u8.set(imageForBakedModel(img.data, 3, img.h, img.w, p), i * 3 * 256 * 256);
        f32.set(normalizedExpected(e, expected(e), p), i * 3 * 224 * 224);
      });
      const probs = (await sBaked.run({ input: new ort.Tensor('uint8', u8, [batch.length, 3, 256, 256]) })).output.data as Float32Array;
      const logits = (await sPlain.run({ input: new ort.Tensor('float32', f32, [batch.length, 3, 224, 224]) })).output.data as Float32Array;
      for (let i = 0; i < batch.length; i++) {
        const l = logits.subarray(i * 1000, (i + 1) * 1000);
        const max = Math.max(...l);
        let sum = 0;
        for (const v of l) sum += Math.exp(v - max);
        const ref = Array.from(l, (v) => Math.exp(v - max) / sum);
        const got = probs.subarray(i * 1000, (i + 1) * 1000);
        expect(top5(got), batch[i].image).toEqual(top5(ref));
        for (let k = 0; k < 1000; k++) worst = Math.max(worst, Math.abs(got[k] - ref[k]));
        compared++;
      }
    }
    await sBaked.release();
    await sPlain.release();
    expect(compared).toBe(entries.length);
    expect(worst).toBeLessThan(1e-4);
  });
});
