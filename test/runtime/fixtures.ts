/** Datalists of seeded npz images and the reference outputs of the test models, for the runner tests. */
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { readNpz, writeNpz, type NpyArray } from '../../core/npz.js';
import { resizeU8 } from '../../builders/preprocess/host.js';
import { maxAbsDiff, runOrt } from '../helpers/ort.js';

/** Seeded uint8 bytes (xorshift), so every run of the tests feeds the same images. */
export function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

export interface ImageSpec {
  h: number;
  w: number;
}

/** Write `count` images as `<dir>/<cls>/img<k>.npz` and a datalist; sizes cycle through `sizes`. */
export function makeDatalist(dir: string, count: number, sizes: ImageSpec[], cls = 'cls'): { list: string; files: string[] } {
  fs.mkdirSync(path.join(dir, cls), { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const { h, w } = sizes[k % sizes.length];
    const file = path.join(dir, cls, `img${String(k).padStart(3, '0')}.npz`);
    writeNpz(file, { input_0: { dtype: 'uint8', shape: [3, h, w], data: seededBytes(3 * h * w, k + 1) } });
    files.push(file);
  }
  const list = path.join(dir, `list-${count}.txt`);
  fs.writeFileSync(list, files.map((f) => `${f}\n`).join(''));
  return { list, files };
}

/** What the runner must produce for one image: the model on the image, resized on the host to `size` if needed. */
export async function referenceOutputs(model: string, file: string, size: number): Promise<Float32Array[]> {
  const img = readNpz(file).get('input_0')!;
  const [c, h, w] = img.shape;
  const data = h === size && w === size ? (img.data as Uint8Array) : resizeU8(img.data as Uint8Array, c, h, w, size, size, 'BILINEAR_CV');
  const out = await runOrt(model, { image: new ort.Tensor('uint8', data, [1, c, size, size]) });
  return Object.values(out).map((t) => t.data as Float32Array);
}

/** The npz outputs of a run, by file name. */
export function readOutputs(dir: string): Map<string, Map<string, NpyArray>> {
  const out = new Map<string, Map<string, NpyArray>>();
  for (const f of fs.readdirSync(dir).sort()) out.set(f, readNpz(path.join(dir, f)));
  return out;
}

/** Largest |difference| over every output of two runs with the same file names. */
export function runsMaxDiff(a: Map<string, Map<string, NpyArray>>, b: Map<string, Map<string, NpyArray>>): number {
  let m = 0;
  for (const [f, za] of a) {
    const zb = b.get(f);
    if (!zb) throw new Error(`missing ${f}`);
    for (const [k, arr] of za) m = Math.max(m, maxAbsDiff(arr.data as Float32Array, zb.get(k)!.data as Float32Array));
  }
  return m;
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}
