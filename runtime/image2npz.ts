/**
 * The zoo's image2npz: every image under a folder (recursively, by suffix) -> `<target>/<parent folder>/<name>.npz`
 * holding `input_0`, uint8 RGB planar [3,H,W] at the original size, plus a datalist of the npz paths (absolute,
 * sorted). Decoding: core/image.ts (sharp, matching OpenCV's imread + BGR2RGB). Several images decode at once;
 * the npz files appear together at the end (a failed run leaves none), and `--skip-bad` leaves out images that
 * do not decode, listing them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError } from '../core/errors.js';
import { checkOutputTarget, ensureDir, statIfAny, tempPathFor, writeFileAtomic } from '../core/fsutil.js';
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
  /** Leave out images that do not decode and list them, instead of stopping with nothing written. */
  skipBad?: boolean;
}

export interface Image2NpzResult {
  images: number;
  /** Images left out with --skip-bad, with why. */
  bad: RebakeError[];
  seconds: number;
  imagesPerSecond: number;
}

function findImages(dir: string, suffix: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      // Regular files only (through links too): a fifo or device named x.JPEG would block the decoder forever.
      else if (e.name.endsWith(suffix) && statIfAny(p)?.isFile()) out.push(p);
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
  checkOutputTarget(o.textPath, 'file', '--text_path');
  checkOutputTarget(target, 'folder', '--target_path');

  // Every npz goes to a temp name first and all are renamed at the end: a bad image (without --skip-bad) or
  // an interrupt leaves no npz, folder or datalist of this run behind.
  const createdDirs = [target, ...new Set([...seen.keys()].map((p) => path.dirname(p)))].filter((d) => !fs.existsSync(d));
  const staged = new Map<string, string>();
  const bad: RebakeError[] = [];
  const progress = new Progress(images.length, 'img', o.progress);
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const img = images[next++];
      try {
        const { data, shape } = await decodeImage(img);
        const npz = npzOf(img);
        ensureDir(path.dirname(npz));
        const tmp = tempPathFor(npz);
        writeNpz(tmp, { input_0: { dtype: 'uint8', shape, data } });
        staged.set(npz, tmp);
      } catch (e) {
        if (o.skipBad && e instanceof RebakeError && e.code === 'IMAGE_DECODE') bad.push(e);
        else {
          next = images.length; // the others stop after their current image
          throw e;
        }
      }
      progress.tick();
    }
  };
  try {
    // Every worker finishes its current image before the cleanup, so no late write lands after it.
    const settled = await Promise.allSettled(Array.from({ length: Math.min(o.jobs, images.length) }, worker));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (!staged.size) throw new RebakeError('DATASET_EMPTY', `none of the ${images.length} images decoded`, { file: o.datasetPath });
    for (const [npz, tmp] of staged) fs.renameSync(tmp, npz);
  } catch (e) {
    for (const tmp of staged.values()) fs.rmSync(tmp, { force: true });
    for (const d of createdDirs.reverse()) if (fs.existsSync(d) && !fs.readdirSync(d).length) fs.rmdirSync(d);
    throw e;
  } finally {
    progress.clear();
  }
  writeFileAtomic(o.textPath, [...staged.keys()].sort().map((p) => `${p}\n`).join(''));
  const seconds = (performance.now() - t0) / 1000;
  bad.sort((a, b) => (a.location?.file ?? '').localeCompare(b.location?.file ?? ''));
  return { images: staged.size, bad, seconds, imagesPerSecond: staged.size / seconds };
}
