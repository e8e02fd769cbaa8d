/**
 * The baked preprocessing graph (bake-preprocess on an Identity network, so the graph output is the normalized
 * tensor, plus the resize output exposed as a second output) against the OpenCV / Pillow / numpy fixtures,
 * run on onnxruntime-node with optimizations disabled. The graph is built for each fixture image's size.
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { ResizeType } from '../../builders/config/types.js';
import { DataType } from '../../core/tensor.js';
import { bakePreprocess } from '../../builders/passes/bake-preprocess.js';
import { planFor, type PreprocessPlan, type Window } from '../../builders/preprocess/plan.js';
import { resizeU8 } from '../../builders/preprocess/host.js';
import { maxAbsDiff, runOrt } from '../helpers/ort.js';
import { runPass, passInputs } from '../helpers/passes.js';
import { identityModel, withInputSize } from '../helpers/preprocess-models.js';
import { diffU8, expected, image, index, normalizedExpected, normTolerance, preprocessRecord, swapChannels, vdsp, type Image } from './fixtures.js';

/**
 * Bake `configId` (ResizeType overridden if given) for `img`'s size on an Identity network and expose the
 * resize output: the whole resized image, or only the crop window when the resize computes just that.
 */
async function runBaked(img: Image, configId: string, resizeType?: ResizeType): Promise<{ normalized: Float32Array; resized?: Uint8Array; plan: PreprocessPlan; window?: Window }> {
  const p0 = vdsp(configId);
  const p = withInputSize(resizeType ? { ...p0, OpConfig: { ...p0.OpConfig, ResizeType: resizeType } } : p0, img.h, img.w);
  const plan = planFor(p, img.h, img.w);
  const m = identityModel(plan.outH, plan.outW);
  await runPass(bakePreprocess, m, passInputs(p));
  const steps = preprocessRecord(m).steps;
  const geo = [...steps].reverse().find((s) => (s.step === 'letterbox' || s.step === 'resize') && s.placement === 'graph');
  if (geo) m.graph.outputs.push({ name: m.graph.node(geo.nodes[geo.nodes.length - 1])!.outputs[0], elemType: DataType.UINT8, shape: undefined });
  const out = await runOrt(m, { x: new ort.Tensor('uint8', img.data, [1, 3, img.h, img.w]) });
  const normalized = out.y.data as Float32Array;
  const resized = geo ? (out[m.graph.outputs[1].name].data as Uint8Array) : undefined;
  const windowed = geo?.step === 'resize' && steps.find((s) => s.step === 'crop')!.nodes.includes(geo.nodes[0]);
  return { normalized, resized, plan, window: windowed ? plan.crop : undefined };
}

/** `win` of a planar [3,h,w] image. */
function cut(img: Uint8Array, h: number, w: number, win?: Window): Uint8Array {
  if (!win) return img;
  const out = new Uint8Array(3 * win.h * win.w);
  for (let c = 0; c < 3; c++) for (let y = 0; y < win.h; y++) out.set(img.subarray((c * h + win.y + y) * w + win.x, (c * h + win.y + y) * w + win.x + win.w), (c * win.h + y) * win.w);
  return out;
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
        const [, rh, rw] = e.resized_shape;
        expect(got.window !== undefined).toBe(got.plan.crop !== undefined); // a crop is resampled as a window
        expect(diffU8(got.plan.swap ? swapChannels(got.resized) : got.resized, cut(want, rh, rw, got.window))).toEqual({ count: 0, first: -1 });
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
    else expect(diffU8(got.resized!, cut(want, 256, 256, got.window))).toEqual({ count: 0, first: -1 });
  });

  const resizing = index.images.filter((i) => i.committed && i.width * i.height > 1000 && !(i.width === 224 && i.height === 224)).map((i) => i.name);
  it.each(resizing)('BILINEAR (ONNX Resize) graph vs host emulation: %s', async (name) => {
    const img = image(name);
    const got = (await runBaked(img, 'pplcnet_doc_ori', 'BILINEAR')).resized!;
    const host = resizeU8(img.data, 3, img.h, img.w, 224, 224, 'BILINEAR');
    // The host emulates onnxruntime 1.30's float32 Resize arithmetic and its rounding: identical here.
    expect(diffU8(got, host)).toEqual({ count: 0, first: -1 });
  });
});
