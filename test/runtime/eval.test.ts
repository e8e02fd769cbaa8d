/**
 * `rebake eval` and eval/vamp_eval.py on the same outputs: identical printed lines and identical decoded
 * result files, for each ground truth source; and the number formatting equals Python's, ties included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { outputName } from '../../runtime/datalist.js';
import { pyFixed, topK } from '../../runtime/eval.js';
import { writeNpz } from '../../core/npz.js';
import { floatToHalf } from '../../core/tensor.js';
import { seededFloats } from '../helpers/ort.js';
import { cli, lines, python, tempDir } from './helpers.js';

const PY_EVAL = path.resolve('eval/vamp_eval.py');
let dir: string;

interface Case {
  entries: string[];
  out: string;
  list: string;
}

/**
 * Outputs for `folders` (one image each per folder, 3 per folder), with scores that make some top-1 right:
 * image k of folder class c puts its highest score on class c when k is even. Ties on purpose in image 1.
 */
function makeCase(name: string, folders: string[], classes: number, opts: { fp16?: boolean; zooNames?: boolean } = {}): Case {
  const root = path.join(dir, name);
  const entries: string[] = [];
  folders.forEach((f) => {
    for (let k = 0; k < 3; k++) entries.push(path.join(root, 'in', f, `ILSVRC2012_val_${f}_${k}.npz`));
  });
  const out = path.join(root, 'out');
  fs.mkdirSync(out, { recursive: true });
  entries.forEach((e, i) => {
    // Image 4's scores are tiny, so that its class-0 score of 1/512 (printed as a %.8f rounding tie) is second.
    const s = seededFloats(classes, 100 + i).map((v) => ((v + 1) / 2) * (i === 4 ? 1e-3 : 1));
    const folder = path.basename(path.dirname(e));
    const cls = /^\d+$/.test(folder) ? Number(folder) : folders.indexOf(folder) * 7;
    if (i % 2 === 0) s[cls % classes] = 2;
    if (i === 1) s[3] = s[5] = s[9] = 3; // a three-way tie for first place: lower class id first
    if (i === 4) s[0] = 1 / 512;
    const data = opts.fp16 ? Uint16Array.from(s, floatToHalf) : s;
    const fname = opts.zooNames ? `output_${String(i).padStart(6, '0')}.npz` : outputName(i, entries.length, e);
    writeNpz(path.join(out, fname), { output_0: { dtype: opts.fp16 ? 'float16' : 'float32', shape: [1, classes], data } });
  });
  const list = path.join(root, 'list.txt');
  fs.writeFileSync(list, entries.join('\n') + '\n');
  return { entries, out, list };
}

function both(args: string[]): { ts: string[]; py: string[] } {
  const r = cli(['eval', ...args]);
  if (r.status !== 0) throw new Error(`rebake eval: ${r.stderr}`);
  const py = python(`import runpy, sys; sys.argv = ['vamp_eval.py'] + sys.argv[1:]; runpy.run_path(${JSON.stringify(PY_EVAL)}, run_name='__main__')`, args);
  return { ts: lines(r.stdout), py: lines(py) };
}

beforeAll(() => {
  dir = tempDir('eval');
});

describe('pyFixed is Python %.Nf', () => {
  it('matches Python on ties, tiny, huge and negative values', () => {
    const values = [1 / 512, 0.125, 2.5e-9, 5e-9, 0.000000015, 1e-300, 123456789.123456789, -0.0000000049, 0.1 + 0.2, 2 ** 60, 33.3333333, 0, -0, 99.9995, 1 / 3];
    const f32 = Array.from(new Float32Array(seededFloats(40, 7)));
    const all = [...values, ...f32];
    const py = python(`import sys; [print('%.8f' % float(v)) for v in sys.argv[1:]]`, all.map((v) => (Object.is(v, -0) ? '-0.0' : String(v)))).trim().split('\n');
    expect(all.map((v) => pyFixed(v, 8))).toEqual(py);
    expect(pyFixed(1 / 512, 8)).toBe('0.00195312'); // half-even, where toFixed gives ...313
  });

  it('topK orders by score, ties by lower class id', () => {
    expect(topK(new Float32Array([1, 3, 2, 3, 0, 3]), 4)).toEqual([1, 3, 5, 2]);
  });
});

describe('rebake eval and vamp_eval.py agree exactly', () => {
  it('class-id folders, rebake output names, --decode', () => {
    const c = makeCase('ids', ['3', '7', '12', '0'], 20);
    const dts = path.join(dir, 'ids-ts.txt');
    const dpy = path.join(dir, 'ids-py.txt');
    const r = cli(['eval', '--result_path', c.out, '--datalist', c.list, '--label', path.resolve('eval/imagenet.txt'), '--decode', dts]);
    const py = python(`import runpy, sys; sys.argv = ['vamp_eval.py'] + sys.argv[1:]; runpy.run_path(${JSON.stringify(PY_EVAL)}, run_name='__main__')`, ['--result_path', c.out, '--datalist', c.list, '--decode', dpy]);
    expect(lines(r.stdout)).toEqual(lines(py));
    // 12 images: the 6 even ones have their class on top, and image 1 (folder 3) wins its 3/5/9 tie only
    // because ties go to the lower class id.
    expect(lines(r.stdout)).toEqual(['evaluated 12 of 12 datalist entries (outputs paired by name)', 'top-1: 58.333% (7/12)', expect.stringMatching(/^top-5: \d+\.\d{3}% \(\d+\/12\)$/)]);
    const decoded = fs.readFileSync(dts, 'utf8');
    expect(decoded).toBe(fs.readFileSync(dpy, 'utf8'));
    const dl = decoded.split('\n');
    expect(dl).toHaveLength(12 * 5 + 1);
    expect(dl[5]).toBe(`${c.entries[1]}: Relay top-0 id: 3, prob: 3.00000000, class name: ${fs.readFileSync('eval/imagenet.txt', 'utf8').split('\n')[3]}`);
    expect(dl[6]).toMatch(/Relay top-1 id: 5, prob: 3\.00000000/);
    expect(dl[7]).toMatch(/Relay top-2 id: 9, prob: 3\.00000000/);
    expect(decoded).toContain('prob: 0.00195312, class name: tench, Tinca tinca');
  });

  it('synset folders with a synset list, float16 scores, zoo-style names paired by sorted order', () => {
    const wnids = ['n01440764', 'n01443537', 'n01484850'];
    const synsets = path.join(dir, 'synsets.txt');
    // Class c is line c: put the folders' wnids at 0, 7 and 14 (the scores favour c = index * 7).
    const table = Array.from({ length: 20 }, (_, i) => `n0999${String(i).padStart(4, '0')}`);
    wnids.forEach((w, k) => (table[k * 7] = w));
    fs.writeFileSync(synsets, table.join('\n') + '\n');
    const c = makeCase('synsets', wnids, 20, { fp16: true, zooNames: true });
    const { ts, py } = both(['--result_path', c.out, '--datalist', c.list, '--synsets', synsets, '--topk', '3']);
    expect(ts).toEqual(py);
    expect(ts[0]).toBe('evaluated 9 of 9 datalist entries (outputs paired by sorted order)');
    expect(ts[1]).toMatch(/^top-1: \d+\.\d{3}% \([4-9]\/9\)$/);
    expect(ts[2]).toMatch(/^top-3: /);
  });

  it('--gt file overrides folders', () => {
    const c = makeCase('gt', ['a', 'b'], 10);
    const gt = path.join(dir, 'gt.txt');
    fs.writeFileSync(gt, c.entries.map((e, i) => `${e} ${i % 10}`).join('\n'));
    const { ts, py } = both(['--result_path', c.out, '--datalist', c.list, '--gt', gt]);
    expect(ts).toEqual(py);
    expect(ts[0]).toBe('evaluated 6 of 6 datalist entries (outputs paired by name)');
  });

  it('a synset folder without a synset list is one clear error', () => {
    const c = makeCase('nosyn', ['n01440764'], 10);
    // Not the ImageNet names, so the shipped eval/imagenet_synsets.txt does not apply either.
    const labels = path.join(dir, 'ten-classes.txt');
    fs.writeFileSync(labels, Array.from({ length: 10 }, (_, i) => `class ${i}\n`).join(''));
    const r = cli(['eval', '--result_path', c.out, '--datalist', c.list, '--label', labels]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([`rebake: ${c.list}: cannot tell the class of ${c.entries[0]}: its folder "n01440764" is a synset, but no synset list was given (--synsets); or give --gt (or --decode alone for predictions without accuracy)`]);
  });
});
