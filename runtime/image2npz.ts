/**
 * The zoo's image2npz: every image under a folder (recursively, by suffix) -> `<target>/<parent folder>/<name>.npz`
 * holding `input_0`, uint8 RGB planar [3,H,W] at the original size, plus a datalist of the npz paths (absolute,
 * sorted). Decoding: core/image.ts (sharp, matching OpenCV's imread + BGR2RGB). Several images decode at once; each npz is written atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError } from '../core/errors.js';
import { ensureDir, writeFileAtomic } from '../core/fsutil.js';
import { decodeImage } from '../core/image.js';
import { writeNpz } from '../core/npz.js';
import { Progress } from '../core/progress.js';

export interface Image2NpzOptions {
  datasetPath: string;
  targetPath: string;
  textPath: string;
  suffix: string;
  /** Images decoded at once. */
  jobs: number;
  progress: boolean;
}

export interface Image2NpzResult {
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

function findImages(dir: string, suffix: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(suffix)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

export async function image2npz(o: Image2NpzOptions): Promise<Image2NpzResult> {
  const t0 = performance.now();
  if (!fs.existsSync(o.datasetPath) || !fs.statSync(o.datasetPath).isDirectory()) {
    throw new RebakeError('DATASET_MISSING', 'no such folder (expected a folder of images, e.g. ImageNet val/<synset>/*.JPEG)', { file: o.datasetPath });
  }
  const images = findImages(o.datasetPath, o.suffix);
  if (!images.length) throw new RebakeError('DATASET_EMPTY', `no files ending in "${o.suffix}" under this folder (see --suffix)`, { file: o.datasetPath });
  const target = path.resolve(o.targetPath);
  const npzOf = (img: string) => path.join(target, path.basename(path.dirname(img)), `${path.parse(img).name}.npz`);
  const seen = new Map<string, string>();
  for (const img of images) {
    const npz = npzOf(img);
    const other = seen.get(npz);
    if (other) throw new RebakeError('DATASET_CLASH', `${other} and ${img} would both become ${npz} (same folder name and file name)`, { file: o.datasetPath });
    seen.set(npz, img);
  }
  for (const dir of new Set([...seen.keys()].map((p) => path.dirname(p)))) ensureDir(dir);

  const progress = new Progress(images.length, 'img', o.progress);
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const img = images[next++];
      try {
        const { data, shape } = await decodeImage(img);
        writeNpz(npzOf(img), { input_0: { dtype: 'uint8', shape, data } });
      } catch (e) {
        next = images.length; // the others stop after their current image
        throw e;
      }
      progress.tick();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.jobs, images.length) }, worker));
  } finally {
    progress.clear();
  }
  writeFileAtomic(o.textPath, [...seen.keys()].sort().map((p) => `${p}\n`).join(''));
  const seconds = (performance.now() - t0) / 1000;
  return { images: images.length, seconds, imagesPerSecond: images.length / seconds };
}
