/** Host preprocessing (builders/preprocess/host.ts) against the OpenCV / Pillow / numpy golden fixtures. */
import { describe, expect, it } from 'vitest';
import { planFor } from '../../builders/preprocess/plan.js';
import { geometryU8, imageForBakedModel, preprocess, resizeU8 } from '../../builders/preprocess/host.js';
import { maxAbsDiff } from '../helpers/ort.js';
import { diffU8, expected, image, index, normalizedExpected, normTolerance, swapChannels, vdsp } from './fixtures.js';

/** The largest committed photo (a realistic downscale for every config). */
const photo = index.images.filter((i) => i.committed && i.kind === 'photo').sort((a, b) => b.width * b.height - a.width * a.height)[0].name;

describe('host preprocessing vs golden fixtures', () => {
  for (const e of index.expected) {
    it(`${e.image} / ${e.config}`, () => {
      const img = image(e.image);
      const p = vdsp(e.config);
      const arrays = expected(e);
      const plan = planFor(p, img.h, img.w);
      const [, rh, rw] = e.resized_shape;
      // `resized` is the whole resized (letterbox: padded) image, after the channel swap.
      let full = plan.pad ? geometryU8(img.data, 3, img.h, img.w, plan) : resizeU8(img.data, 3, img.h, img.w, rh, rw, p.OpConfig.ResizeType);
      if (plan.swap) full = swapChannels(full);
      const want = arrays.get('resized')!.data as Uint8Array;
      expect(diffU8(full, want)).toEqual({ count: 0, first: -1 });

      const got = preprocess(img.data, 3, img.h, img.w, p);
      const ref = normalizedExpected(e, arrays, p);
      expect(got.length).toBe(ref.length);
      expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(normTolerance(p));

      if (e.resized_pillow) {
        const pil = resizeU8(img.data, 3, img.h, img.w, rh, rw, 'BILINEAR_PILLOW');
        expect(diffU8(pil, arrays.get('resized_pillow')!.data as Uint8Array)).toEqual({ count: 0, first: -1 });
      }
    });
  }
});

describe('host preprocessing details', () => {
  it('normalizes as float32 (x - sub) * mul, channel swap reading the reversed input channel', () => {
    const p = vdsp('pplcnet_doc_ori');
    const img = new Uint8Array(3 * 224 * 224);
    for (let i = 0; i < img.length; i++) img[i] = (i * 31) & 255;
    const out = preprocess(img, 3, 224, 224, p);
    const n = 224 * 224;
    const c = p.OpConfig;
    for (const i of [0, 1, 777, n - 1]) {
      for (let ch = 0; ch < 3; ch++) {
        const x = img[(2 - ch) * n + i];
        const want = Math.fround(Math.fround(x - Math.fround(255 * c.Mean[ch])) * Math.fround(1 / (255 * c.Std[ch])));
        expect(out[ch * n + i]).toBe(want);
      }
    }
  });

  it('writes into a batch buffer at an offset', () => {
    const p = vdsp('repvgg');
    const img = image(photo);
    const size = 3 * 224 * 224;
    const batch = new Float32Array(2 * size).fill(-7);
    preprocess(img.data, 3, img.h, img.w, p, batch, size);
    expect(batch[0]).toBe(-7);
    expect(maxAbsDiff(batch.subarray(size), preprocess(img.data, 3, img.h, img.w, p))).toBe(0);
  });

  it('imageForBakedModel: resize to the baked input size, letterbox for letterbox configs', () => {
    const img = image(photo);
    const rep = imageForBakedModel(img.data, 3, img.h, img.w, vdsp('repvgg'));
    expect(diffU8(rep, resizeU8(img.data, 3, img.h, img.w, 256, 256, 'BILINEAR_CV')).count).toBe(0);
    const lb = imageForBakedModel(img.data, 3, img.h, img.w, vdsp('centernet_res18'));
    const e = index.expected.find((x) => x.image === photo && x.config === 'centernet_res18')!;
    expect(diffU8(lb, expected(e).get('resized')!.data as Uint8Array).count).toBe(0);
  });

  it('BILINEAR (ONNX linear, half-pixel) keeps a constant image constant and interpolates a ramp', () => {
    const flat = new Uint8Array(3 * 5 * 7).fill(77);
    expect(resizeU8(flat, 3, 5, 7, 11, 3, 'BILINEAR').every((v) => v === 77)).toBe(true);
    // 1x4 ramp 0,100,200,250 -> width 8: half-pixel positions (d+0.5)/2-0.5 = -0.25 (clamped 0), 0.25, 0.75, ...
    const ramp = new Uint8Array([0, 100, 200, 250]);
    expect([...resizeU8(ramp, 1, 1, 4, 1, 8, 'BILINEAR')]).toEqual([0, 25, 75, 125, 175, 212, 238, 250]);
  });

  it('rejects a non-RGB image', () => {
    expect(() => preprocess(new Uint8Array(4), 1, 2, 2, vdsp('repvgg'))).toThrow(/3 channels/);
  });
});
