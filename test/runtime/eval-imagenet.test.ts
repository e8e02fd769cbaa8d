/**
 * The zoo's ImageNet flow without extra flags: committed photos in valprep.sh's <wnid>/ folders
 * (test/fixtures/imagenet_val) through image2npz, scored with `--label eval/imagenet.txt` alone by `rebake eval`
 * and eval/vamp_eval.py (the shipped eval/imagenet_synsets.txt maps the folders to class ids); and top-k
 * decoding of photos that have no ground truth. The score vectors are made here, so the right answer is known:
 * a wrong wnid -> class mapping changes the counts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDatalist } from '../../core/datalist.js';
import { outputName } from '../../runtime/datalist.js';
import { writeNpz } from '../../core/npz.js';
import { seededFloats } from '../helpers/ort.js';
import { cli, lines, tempDir } from './helpers.js';

const PY_EVAL = path.resolve('eval/vamp_eval.py');
const LABELS = path.resolve('eval/imagenet.txt');
// ImageNet class indices of the fixture's folders (tabby 281, coffee mug 504, missile 657).
const CLASS_OF: Record<string, number> = { n02123045: 281, n03063599: 504, n03773504: 657 };

let dir: string;

interface Run {
  list: string;
  out: string;
  entries: string[];
}

/**
 * image2npz of a photo folder, then outputs as a run would write them: seeded noise in [0, 1) over 1000
 * classes, with the scores `lift(i, folder)` gives ({class id: score}) put on top.
 */
function photosRun(name: string, photos: string, suffix: string, lift: (i: number, folder: string) => Record<number, number>): Run {
  const root = path.join(dir, name);
  const list = path.join(root, 'list.txt');
  const r = cli(['image2npz', '--dataset_path', photos, '--target_path', path.join(root, 'npz'), '--text_path', list, '--suffix', suffix]);
  expect(r.status, r.stderr).toBe(0);
  const entries = readDatalist(list);
  const out = path.join(root, 'out');
  fs.mkdirSync(out);
  entries.forEach((e, i) => {
    const s = seededFloats(1000, 40 + i).map((v) => (v + 1) / 2);
    for (const [cls, score] of Object.entries(lift(i, path.basename(path.dirname(e))))) s[Number(cls)] = score;
    writeNpz(path.join(out, outputName(i, entries.length, e)), { output_0: { dtype: 'float32', shape: [1, 1000], data: s } });
  });
  return { list, out, entries };
}

function rebakeEval(args: string[]) {
  return cli(['eval', ...args]);
}

function pyEval(args: string[]) {
  const r = spawnSync('python3', [PY_EVAL, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = tempDir('eval-imagenet');
});

describe('synset folders scored with --label eval/imagenet.txt alone', () => {
  let run: Run;

  beforeAll(() => {
    // Datalist order (sorted): n02123045/chelsea, n02123045/chelsea_mirrored, n03063599/coffee, n03773504/rocket.
    // Their true class on top (0, 2), second behind another class (1: inside the top 5 only), nowhere (3).
    run = photosRun('val', path.resolve('test/fixtures/imagenet_val'), '.JPEG', (i, folder) => {
      const truth = CLASS_OF[folder];
      return [{ [truth]: 2 }, { [truth + 1]: 2, [truth]: 1.99 }, { [truth]: 2 }, {}][i];
    });
  });

  it('rebake eval and vamp_eval.py print the same, right counts, and decode the same class names', () => {
    expect(run.entries.map((e) => path.relative(path.join(dir, 'val', 'npz'), e))).toEqual(['n02123045/chelsea.npz', 'n02123045/chelsea_mirrored.npz', 'n03063599/coffee.npz', 'n03773504/rocket.npz']);
    const ts = rebakeEval(['--result_path', run.out, '--datalist', run.list, '--label', LABELS, '--decode', path.join(dir, 'val-ts.txt')]);
    const py = pyEval(['--result_path', run.out, '--datalist', run.list, '--label', LABELS, '--decode', path.join(dir, 'val-py.txt')]);
    expect(ts.status, ts.stderr).toBe(0);
    expect(py.status, py.stderr).toBe(0);
    expect(lines(ts.stdout)).toEqual(['evaluated 4 of 4 datalist entries (outputs paired by name)', 'top-1: 50.000% (2/4)', 'top-5: 75.000% (3/4)']);
    expect(lines(py.stdout)).toEqual(lines(ts.stdout));
    const decoded = fs.readFileSync(path.join(dir, 'val-ts.txt'), 'utf8');
    expect(decoded).toBe(fs.readFileSync(path.join(dir, 'val-py.txt'), 'utf8'));
    expect(decoded).toContain(`${run.entries[2]}: Relay top-0 id: 504, prob: 2.00000000, class name: coffee mug\n`);
    expect(decoded).toContain(`${run.entries[1]}: Relay top-1 id: 281, prob: 1.99000001, class name: tabby, tabby cat\n`);
  });

  it('the default label file is the same ImageNet list', () => {
    const ts = rebakeEval(['--result_path', run.out, '--datalist', run.list]);
    expect(ts.status, ts.stderr).toBe(0);
    expect(lines(ts.stdout)[1]).toBe('top-1: 50.000% (2/4)');
  });

  it('negative control: a label file with other class names does not borrow the ImageNet synsets', () => {
    const other = path.join(dir, 'renamed.txt');
    const names = fs.readFileSync(LABELS, 'utf8').split('\n');
    names[504] = 'mug';
    fs.writeFileSync(other, names.join('\n'));
    const msg = `${run.list}: cannot tell the class of ${run.entries[0]}: its folder "n02123045" is a synset, but no synset list was given (--synsets)`;
    const ts = rebakeEval(['--result_path', run.out, '--datalist', run.list, '--label', other]);
    expect(ts.status).toBe(2);
    expect(lines(ts.stderr)[0]).toContain(`rebake: ${msg}`);
    const py = pyEval(['--result_path', run.out, '--datalist', run.list, '--label', other]);
    expect(py.status).toBe(2);
    expect(lines(py.stderr)[0]).toContain(`rebake: ${msg}`);
  });
});

describe('decoding photos without ground truth', () => {
  let run: Run;

  beforeAll(() => {
    // astronaut, chelsea, coffee, rocket
    run = photosRun('photos', path.resolve('test/fixtures/photos'), '.jpg', (i) => [{}, { 281: 2 }, { 504: 2 }, { 657: 2 }][i] as Record<number, number>);
  });

  it('writes the zoo result.txt (top-k per photo) and reports no accuracy, in both tools', () => {
    // Both write the same file name, one after the other, so their printed lines can be compared whole.
    const out = path.join(dir, 'photos-result.txt');
    const args = ['--result_path', run.out, '--datalist', run.list, '--label', LABELS, '--topk', '3', '--decode', out];
    const ts = rebakeEval(args);
    expect(ts.status, ts.stderr).toBe(0);
    const decoded = fs.readFileSync(out, 'utf8');
    fs.rmSync(out);
    const py = pyEval(args);
    expect(py.status, py.stderr).toBe(0);
    expect(lines(ts.stdout)).toEqual([`decoded 4 of 4 datalist entries (outputs paired by name): top-3 per image in ${out}`, 'no ground truth (folders are neither class ids nor synsets, no --gt): no accuracy']);
    expect(lines(py.stdout)).toEqual(lines(ts.stdout));
    expect(fs.readFileSync(out, 'utf8')).toBe(decoded);
    expect(decoded.split('\n').filter(Boolean)).toHaveLength(12);
    expect(decoded).toContain(`${run.entries[1]}: Relay top-0 id: 281, prob: 2.00000000, class name: tabby, tabby cat\n`);
  });

  it('without --decode there is nothing to do: one clear error naming --gt and --decode', () => {
    const ts = rebakeEval(['--result_path', run.out, '--datalist', run.list]);
    expect(ts.status).toBe(2);
    expect(lines(ts.stderr)).toEqual([`rebake: ${run.list}: cannot tell the class of ${run.entries[0]}: its folder "photos" is neither a class id nor a synset of the synset list; or give --gt (or --decode alone for predictions without accuracy)`]);
  });

  it('a datalist mixing labelled and unlabelled folders is refused even with --decode', () => {
    const photos = path.join(dir, 'mixed-photos');
    for (const [folder, photo] of [['281', 'chelsea.jpg'], ['holiday', 'coffee.jpg']]) {
      fs.mkdirSync(path.join(photos, folder), { recursive: true });
      fs.copyFileSync(path.resolve('test/fixtures/photos', photo), path.join(photos, folder, photo));
    }
    const mixed = photosRun('mixed', photos, '.jpg', () => ({}));
    const ts = rebakeEval(['--result_path', mixed.out, '--datalist', mixed.list, '--decode', path.join(dir, 'mixed.txt')]);
    expect(ts.status).toBe(2);
    expect(lines(ts.stderr)).toEqual([`rebake: ${mixed.list}: cannot tell the class of ${mixed.entries[1]}: its folder "holiday" is neither a class id nor a synset of the synset list; or give --gt (or --decode alone for predictions without accuracy)`]);
    expect(fs.existsSync(path.join(dir, 'mixed.txt'))).toBe(false);
  });
});
