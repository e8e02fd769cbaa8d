/**
 * The BILINEAR_CV host resize runs in WebAssembly SIMD (builders/preprocess/resize-cv.wat): the committed bytes are the
 * compiler's output for the committed source, and the kernel equals the scalar fixed-point formula
 * (tables.ts; the OpenCV fixtures check the formula itself in host.test.ts) on sizes that are not multiples
 * of its 8- and 16-column steps, upscales, downscales, one-pixel images and crop windows.
 */
import { describe, expect, it } from 'vitest';
import { cvAxis } from '../../builders/preprocess/tables.js';
import { resizeU8 } from '../../builders/preprocess/host.js';
import { RESIZE_CV_WASM_BASE64 } from '../../builders/preprocess/resize-cv-wasm.js';
import { compileResizeWat } from '../../tools/build_resize_wasm.js';
import { diffU8 } from './fixtures.js';

/** OpenCV's arithmetic one pixel at a time, straight from the tables: the reference. */
function scalarCv(src: Uint8Array, c: number, h: number, w: number, oh: number, ow: number, win: { x: number; y: number; w: number; h: number }): Uint8Array {
  const cx = cvAxis(w, ow, true);
  const cy = cvAxis(h, oh, false);
  const out = new Uint8Array(c * win.h * win.w);
  const tap = (plane: number, row: number, x: number) => {
    const i = cx.i0[x];
    const base = plane + Math.min(Math.max(row, 0), h - 1) * w;
    return (src[base + i] * cx.w0[x] + src[base + Math.min(i + 1, w - 1)] * cx.w1[x]) >> 4;
  };
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < win.h; y++) {
      const oy = win.y + y;
      for (let x = 0; x < win.w; x++) {
        const ox = win.x + x;
        const s0 = tap(ch * h * w, cy.i0[oy], ox);
        const s1 = tap(ch * h * w, cy.i0[oy] + 1, ox);
        out[(ch * win.h + y) * win.w + x] = (((s0 * cy.w0[oy]) >> 16) + ((s1 * cy.w1[oy]) >> 16) + 2) >> 2;
      }
    }
  }
  return out;
}

function seeded(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('BILINEAR_CV in WebAssembly SIMD', () => {
  it('the committed module is the compiled builders/preprocess/resize-cv.wat', async () => {
    const compiled = await compileResizeWat();
    expect(Buffer.from(RESIZE_CV_WASM_BASE64, 'base64').equals(Buffer.from(compiled))).toBe(true);
  });

  const cases: [number, number, number, number, number][] = [
    // c, h, w -> oh, ow: downscales, upscales, odd widths, one row or column, 1x1
    [3, 397, 711, 256, 256],
    [3, 375, 500, 224, 299],
    [3, 7, 1000, 13, 17],
    [3, 1000, 7, 33, 1],
    [1, 1, 1, 5, 9],
    [3, 2, 3, 31, 15],
    [2, 9, 12, 50, 3],
    [3, 64, 64, 65, 63],
  ];
  for (const [c, h, w, oh, ow] of cases) {
    it(`${c}x${h}x${w} -> ${oh}x${ow}: whole image and a crop window equal the scalar formula`, () => {
      const src = seeded(c * h * w, h * 7919 + w);
      const whole = { x: 0, y: 0, w: ow, h: oh };
      expect(diffU8(resizeU8(src, c, h, w, oh, ow, 'BILINEAR_CV'), scalarCv(src, c, h, w, oh, ow, whole))).toEqual({ count: 0, first: -1 });
      const win = { x: Math.floor(ow / 3), y: Math.floor(oh / 4), w: Math.max(1, ow - Math.floor(ow / 3) - 1), h: Math.max(1, oh - Math.floor(oh / 4) - 1) };
      expect(diffU8(resizeU8(src, c, h, w, oh, ow, 'BILINEAR_CV', win), scalarCv(src, c, h, w, oh, ow, win))).toEqual({ count: 0, first: -1 });
    });
  }

  it('a larger image after a smaller one (the kernel memory grows) and back', () => {
    for (const [h, w] of [[20, 30], [1200, 1600], [20, 30]]) {
      const src = seeded(3 * h * w, w);
      expect(diffU8(resizeU8(src, 3, h, w, 256, 256, 'BILINEAR_CV'), scalarCv(src, 3, h, w, 256, 256, { x: 0, y: 0, w: 256, h: 256 })).count).toBe(0);
    }
  });
});
