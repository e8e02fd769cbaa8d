/**
 * Access to the golden preprocessing fixtures of tools/make_preprocess_fixtures.py (OpenCV 4.6, Pillow 9.4,
 * numpy): images (committed npz or regenerated from synthetic.json formulas), configs, expected arrays.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { loadVdspParams } from '../../builders/config/load.js';
import type { VdspParams } from '../../builders/config/types.js';
import type { Model } from '../../builders/ir/model.js';
import { PREPROCESS_METADATA_KEY, type PreprocessRecord } from '../../builders/passes/bake-preprocess.js';
import { readNpz, type NpyArray } from '../../core/npz.js';

export const FIXTURES = path.resolve('test/fixtures/preprocess');

export interface ExpectedEntry {
  file: string;
  image: string;
  config: string;
  resized_shape: number[];
  normalized: boolean;
  normalized_shape: number[];
  resized_pillow: boolean;
  letterbox?: { scale: number; nw: number; nh: number; top: number; left: number };
}

interface Index {
  images: { name: string; width: number; height: number; committed: boolean; kind: string; file: string | null }[];
  configs: { id: string; opType: string; files: string[] }[];
  expected: ExpectedEntry[];
}

export const index: Index = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8'));
const synthetic: { images: { name: string; width: number; height: number; formula: string; sha256: string }[] } = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'synthetic.json'), 'utf8'),
);

export interface Image {
  name: string;
  h: number;
  w: number;
  data: Uint8Array;
}

const imageCache = new Map<string, Image>();

/**
 * A synthetic.json image: "<expr>, u = <expr>, v = <expr>" over integer c, y, x (JS integer semantics match
 * the documented ones for these sizes). The sha256 there guards the evaluation.
 */
function formulaImage(formula: string, h: number, w: number): Uint8Array {
  if (!/^[\w\s*+\-%()&>=,]+$/.test(formula)) throw new Error(`unexpected characters in formula ${formula}`);
  const [expr, ...defs] = formula.split(',').map((s) => s.trim());
  const body = defs.map((d) => `const ${d.replace('=', '= (')});`).join(' ') + ` return (${expr});`;
  const f = new Function('c', 'y', 'x', body) as (c: number, y: number, x: number) => number;
  const out = new Uint8Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const o = (c * h + y) * w;
      for (let x = 0; x < w; x++) out[o + x] = f(c, y, x);
    }
  }
  return out;
}

export function image(name: string): Image {
  const hit = imageCache.get(name);
  if (hit) return hit;
  const meta = index.images.find((i) => i.name === name);
  if (!meta) throw new Error(`no fixture image ${name}`);
  let data: Uint8Array;
  if (meta.committed) {
    const a = readNpz(path.join(FIXTURES, meta.file!)).get('input_0')!;
    data = a.data as Uint8Array;
  } else {
    const s = synthetic.images.find((i) => i.name === name)!;
    data = formulaImage(s.formula, meta.height, meta.width);
    const sha = crypto.createHash('sha256').update(data).digest('hex');
    if (sha !== s.sha256) throw new Error(`formula image ${name}: sha256 ${sha} != ${s.sha256}`);
  }
  const img = { name, h: meta.height, w: meta.width, data };
  imageCache.set(name, img);
  return img;
}

export function vdspFile(configId: string): string {
  const c = index.configs.find((x) => x.id === configId);
  if (!c) throw new Error(`no fixture config ${configId}`);
  return path.join(FIXTURES, c.files[0]);
}

export function vdsp(configId: string): VdspParams {
  return loadVdspParams(vdspFile(configId));
}

export function expected(e: ExpectedEntry): Map<string, NpyArray> {
  return readNpz(path.join(FIXTURES, e.file));
}

/**
 * The fixture's `normalized` for entries that do not store it: its generator's float64 formula applied to the
 * crop of `resized` (already channel-swapped), rounded to float32.
 */
export function normalizedFromResized(resized: Uint8Array, e: ExpectedEntry, p: VdspParams): Float32Array {
  const c = p.OpConfig;
  const [, rh, rw] = e.resized_shape;
  const [, oh, ow] = e.normalized_shape;
  const crop = p.OpType === 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR';
  const cx = crop ? c.CropX! : 0;
  const cy = crop ? c.CropY! : 0;
  const out = new Float32Array(3 * oh * ow);
  for (let ch = 0; ch < 3; ch++) {
    const m = c.Mean[ch];
    const s = c.Std[ch];
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const v = resized[(ch * rh + cy + y) * rw + cx + x];
        let r: number;
        switch (c.NormaType) {
          case 'DIV255_MINUSMEAN_DIVSTD': r = (v / 255 - m) / s; break;
          case 'MINUSMEAN_DIVSTD': r = (v - m) / s; break;
          case 'DIV255': r = v / 255; break;
          case 'EQUAL': r = v; break;
          case 'DIV1275_MINUSONE': r = v / 127.5 - 1; break;
        }
        out[(ch * oh + y) * ow + x] = r;
      }
    }
  }
  return out;
}

export function normalizedExpected(e: ExpectedEntry, arrays: Map<string, NpyArray>, p: VdspParams): Float32Array {
  return e.normalized ? (arrays.get('normalized')!.data as Float32Array) : normalizedFromResized(arrays.get('resized')!.data as Uint8Array, e, p);
}

/** The acceptance tolerance on normalized values: 1.01 / (255 * min std). */
export function normTolerance(p: VdspParams): number {
  return 1.01 / (255 * Math.min(...p.OpConfig.Std));
}

/** Count of differing bytes and the first differing index. */
export function diffU8(a: Uint8Array, b: Uint8Array): { count: number; first: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let count = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  return { count, first };
}

/** Reverse the channel order of a planar [3,h,w] image (the fixtures' `resized` is after the swap). */
export function swapChannels(img: Uint8Array): Uint8Array {
  const n = img.length / 3;
  const out = new Uint8Array(img.length);
  for (let c = 0; c < 3; c++) out.set(img.subarray((2 - c) * n, (3 - c) * n), c * n);
  return out;
}

/** The bake-preprocess record in a model's metadata. */
export function preprocessRecord(m: Model): PreprocessRecord {
  const meta = m.rest.metadataProps?.find((p) => p.key === PREPROCESS_METADATA_KEY);
  if (!meta?.value) throw new Error('no rebake.preprocess metadata');
  return JSON.parse(meta.value);
}
