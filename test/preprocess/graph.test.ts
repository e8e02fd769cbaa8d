/**
 * The baked preprocessing graph (bake-preprocess on an Identity network, so the graph output is the normalized
 * tensor, plus the resize output exposed as a second output) against the OpenCV / Pillow / numpy fixtures,
 * run on onnxruntime-node with optimizations disabled. The graph is built for each fixture image's size.
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { ResizeType } from '../../builders/config/types.js';
import type { Model } from '../../builders/ir/model.js';
import { DataType } from '../../builders/ir/tensor.js';
import { bakePreprocess, PREPROCESS_METADATA_KEY, type PreprocessRecord } from '../../builders/passes/bake-preprocess.js';
import { planFor } from '../../builders/preprocess/plan.js';
import { resizeU8 } from '../../runtime/preprocess.js';
import { maxAbsDiff, runOrt } from '../helpers/ort.js';
import { identityModel, passContext, withInputSize } from '../helpers/preprocess-models.js';
import { diffU8, expected, image, index, normalizedExpected, normTolerance, swapChannels, vdsp, type Image } from './fixtures.js';

export function preprocessRecord(m: Model): PreprocessRecord {
  const meta = m.rest.metadataProps?.find((p) => p.key === PREPROCESS_METADATA_KEY);
  if (!meta?.value) throw new Error('no rebake.preprocess metadata');
  return JSON.parse(meta.value);
}

/** Bake `configId` (with ResizeType overridden) for `img`'s size on an Identity network; expose the resized value. */
async function runBaked(img: Image, configId: string, resizeType?: ResizeType): Promise<{ normalized: Float32Array; resized?: Uint8Array; swap: boolean }> {
  const p0 = vdsp(configId);
  const p = withInputSize(resizeType ? { ...p0, OpConfig: { ...p0.OpConfig, ResizeType: resizeType } } : p0, img.h, img.w);
  const plan = planFor(p, img.h, img.w);
  const m = identityModel(plan.outH, plan.outW);
  bakePreprocess.run(m, passContext(p));
  const steps = preprocessRecord(m).steps;
  const geo = [...steps].reverse().find((s) => (s.step === 'letterbox' || s.step === 'resize') && s.placement === 'graph');
  if (geo) m.graph.outputs.push({ name: m.graph.node(geo.nodes[geo.nodes.length - 1])!.outputs[0], elemType: DataType.UINT8, shape: undefined });
  const out = await runOrt(m, { x: new ort.Tensor('uint8', img.data, [1, 3, img.h, img.w]) });
  const normalized = out.y.data as Float32Array;
  const resized = geo ? (out[m.graph.outputs[1].name].data as Uint8Array) : undefined;
  return { normalized, resized, swap: plan.swap };
}

describe('baked graph vs golden fixtures (BILINEAR_CV, crop, letterbox, swap, all NormaTypes in the files)', () => {
  for (const e of index.expected) {
    it(`${e.image} / ${e.config}`, async () => {
      const img = image(e.image);
      const p = vdsp(e.config);
      const arrays = expected(e);
      const got = await runBaked(img, e.config);
      const want = arrays.get('resized')!.data as Uint8Array;
      if (got.resized) {
        // The graph swaps channels after the crop; the fixture's `resized` is after the swap.
        expect(diffU8(got.swap ? swapChannels(got.resized) : got.resized, want)).toEqual({ count: 0, first: -1 });
      } else {
        expect(img.w * img.h * 3).toBe(want.length); // no resize: the image is its own resized version
      }
      const ref = normalizedExpected(e, arrays, p);
      expect(maxAbsDiff(got.normalized, ref)).toBeLessThanOrEqual(normTolerance(p));
    });
  }
});

describe('baked graph: other resize types', () => {
  // formula_4000x3000 is left to the host test: the graph's 33-tap Pillow filter there needs a 300 MB int32 tensor.
  const pillow = index.expected.filter((e) => e.resized_pillow && e.image !== 'formula_4000x3000');
  it.each(pillow.map((e) => [e.image, e] as const))('BILINEAR_PILLOW %s = Pillow', async (_, e) => {
    const img = image(e.image);
    const got = await runBaked(img, 'repvgg', 'BILINEAR_PILLOW');
    const want = expected(e).get('resized_pillow')!.data as Uint8Array;
    if (img.h === 256 && img.w === 256) expect(got.resized).toBeUndefined();
    else expect(diffU8(got.resized!, want)).toEqual({ count: 0, first: -1 });
  });

  const photos = index.images.filter((i) => i.committed && i.width * i.height > 1000).map((i) => i.name);
  it.each(photos)('BILINEAR (ONNX Resize) graph vs host emulation: %s', async (name) => {
    const img = image(name);
    const got = await runBaked(img, 'repvgg', 'BILINEAR');
    const host = resizeU8(img.data, 3, img.h, img.w, 256, 256, 'BILINEAR');
    // The host emulates onnxruntime's float32 arithmetic; a value landing on .5 may round the other way.
    let off = 0;
    for (let i = 0; i < host.length; i++) {
      const d = Math.abs(host[i] - got.resized![i]);
      expect(d).toBeLessThanOrEqual(1);
      off += d;
    }
    expect(off / host.length).toBeLessThan(1e-3);
  });
});
