/**
 * The runner under faults, through the compiled CLI: a worker process SIGKILLed mid-run (retried elsewhere, or
 * the run ends non-zero naming the lost inputs, then --resume completes it), Ctrl-C, and every kind of bad input.
 * Whatever happens, every .npz in the output folder loads and no temp file is left.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpz, writeNpz } from '../../core/npz.js';
import { makeDatalist, readOutputs, runsMaxDiff, seededBytes } from './fixtures.js';
import { cli, cliSpawn, lines, tempDir } from './helpers.js';
import { saveClassifier } from './models.js';

let dir: string;
let model: string;
let list: string;
let files: string[];
let reference: ReturnType<typeof readOutputs>;

/** Every file in `out` is a loadable npz (no partial files, no temp files). */
function expectClean(out: string): void {
  for (const f of fs.readdirSync(out)) {
    expect(f).toMatch(/^\d+_img\d+\.npz$/);
    expect(readNpz(path.join(out, f)).get('output_0')!.shape).toEqual([1, 10]);
  }
}

beforeAll(() => {
  dir = tempDir('faults');
  // Wide enough that a batch takes a few milliseconds, so work is spread over both processes.
  model = saveClassifier(path.join(dir, 'mid.onnx'), { input: 'uint8', size: 64, width: 32 });
  ({ list, files } = makeDatalist(path.join(dir, 'in'), 60, [{ h: 64, w: 64 }]));
  const out = path.join(dir, 'reference');
  const r = cli(['run', '-m', model, '--datalist', list, '--path_output', out, '-b', '2']);
  if (r.status !== 0) throw new Error(r.stderr);
  reference = readOutputs(out);
});

describe('a worker process killed with SIGKILL', () => {
  it('with another process alive: its batches are retried there and the run completes', () => {
    const out = path.join(dir, 'out-retry');
    const once = path.join(dir, 'killed-once-a');
    const r = cli(['run', '-m', model, '--datalist', list, '--path_output', out, '-b', '2', '-p', '2'], { env: { REBAKE_FAILPOINT: `kill-host:2:${once}` } });
    // The first host to get its second batch dies; whether its first was already done is a race, hence [12].
    expect(r.stderr).toMatch(/rebake: warning: worker process [01] \(pid \d+\) died: SIGKILL; ([12]) of its \1 unfinished batch\(es\) will be retried on the 1 other worker process\(es\)/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('60 outputs written');
    expectClean(out);
    const got = readOutputs(out);
    expect([...got.keys()]).toEqual([...reference.keys()]);
    expect(runsMaxDiff(reference, got)).toBeLessThanOrEqual(1e-5);
  });

  it('alone: the run ends non-zero naming the lost inputs; --resume then completes it, equal to an uninterrupted run', () => {
    const out = path.join(dir, 'out-lost');
    const r = cli(['run', '-m', model, '--datalist', list, '--path_output', out, '-b', '2'], { env: { REBAKE_FAILPOINT: `kill-host:2:${path.join(dir, 'killed-once-b')}` } });
    expect(r.status).toBe(1);
    const notRun = lines(r.stderr).filter((l) => l.startsWith('rebake: not run: '));
    // It died on receiving its second batch, holding one or two batches of 2 (the one its session runs and the
    // next): those inputs are lost, named in order, and every input before them was written.
    const named = notRun.map((l) => path.basename(/not run: (\S+)/.exec(l)![1]));
    expect([2, 4]).toContain(named.length);
    expect(notRun[0]).toContain('worker process 0');
    const m = /^rebake run: (\d+) outputs written .*; (\d+) lost, (\d+) not run\)/.exec(r.stdout);
    const [written, lost, unrun] = [m![1], m![2], m![3]].map(Number);
    expect(lost).toBe(named.length);
    expect(written + lost + unrun).toBe(60);
    expect(named).toEqual(files.slice(written, written + lost).map((f) => path.basename(f)));
    expectClean(out);
    expect(fs.readdirSync(out)).toHaveLength(written);

    const again = cli(['run', '-m', model, '--datalist', list, '--path_output', out, '-b', '2', '--resume']);
    expect(again.status).toBe(0);
    const got = readOutputs(out);
    expect([...got.keys()]).toEqual([...reference.keys()]);
    expect(runsMaxDiff(reference, got)).toBeLessThanOrEqual(1e-5);
  });
});

describe('Ctrl-C', () => {
  it('stops within 2 s, leaves only complete outputs, says what was done; --resume finishes', async () => {
    // Many small batches so that the signal lands mid-run.
    const big = makeDatalist(path.join(dir, 'in-big'), 400, [{ h: 64, w: 64 }], 'big');
    const out = path.join(dir, 'out-int');
    const tmp = tempDir('int-tmp');
    const child = cliSpawn(['run', '-m', model, '--datalist', big.list, '--path_output', out, '-b', '1'], { env: { TMPDIR: tmp } });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })));
    // Wait for the first outputs, then Ctrl-C the process group as a terminal would.
    while (!fs.existsSync(out) || fs.readdirSync(out).length < 5) await new Promise((r) => setTimeout(r, 10));
    const sent = performance.now();
    process.kill(-child.pid!, 'SIGINT');
    const { code, at } = await exited;
    expect(at - sent).toBeLessThan(2000);
    expect(code).toBe(130);
    // The killed worker process's temp folder went too.
    expect(fs.readdirSync(tmp)).toEqual([]);
    const m = /interrupted after [\d.]+ s: (\d+) outputs written to .* this run, 0 already there, (\d+) of 400 not run; rerun with --resume to finish/.exec(stdout);
    expect(m).not.toBeNull();
    const written = Number(m![1]);
    expect(written).toBeGreaterThanOrEqual(5);
    expect(written).toBeLessThan(400);
    expect(Number(m![2])).toBe(400 - written);
    expect(fs.readdirSync(out)).toHaveLength(written);
    for (const f of fs.readdirSync(out)) expect(readNpz(path.join(out, f)).get('output_0')!.shape).toEqual([1, 10]);

    const again = cli(['run', '-m', model, '--datalist', big.list, '--path_output', out, '-b', '8', '--resume']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`${400 - written} outputs written`);
    expect(again.stdout).toContain(`${written} already done`);
    expect(fs.readdirSync(out)).toHaveLength(400);
  });
});

describe('bad input: one line each, exit 2 at the first; --skip-bad lists them and goes on', () => {
  const cases: { name: string; make: (file: string) => void; expect: RegExp }[] = [
    { name: 'a missing npz', make: () => {}, expect: /: no such file \(expected an npz file\)$/ },
    { name: 'a corrupt zip', make: (f) => fs.writeFileSync(f, 'PK\x03\x04 this is not really a zip'), expect: /: truncated npz: the zip's central directory is missing/ },
    { name: 'a missing input_0', make: (f) => writeNpz(f, { image: { dtype: 'uint8', shape: [3, 64, 64], data: seededBytes(3 * 64 * 64, 9) } }), expect: /: no array "input_0" \(found: image\); image2npz writes the image as input_0$/ },
    { name: 'a wrong dtype', make: (f) => writeNpz(f, { input_0: { dtype: 'int32', shape: [3, 4, 4], data: new Int32Array(48) } }), expect: / input_0: dtype int32 is not supported \(expected uint8 image, or float32\/float16 tensor\)$/ },
    { name: 'a wrong channel count', make: (f) => writeNpz(f, { input_0: { dtype: 'uint8', shape: [64, 64, 3], data: seededBytes(64 * 64 * 3, 3) } }), expect: / input_0: 64 channels in shape \[64, 64, 3\], the model takes 3 \(it looks like H, W, C: transpose to C, H, W\)$/ },
  ];
  /** Case `c`'s bad input, written into `folder` (a missing npz: only named). */
  function makeBad(c: (typeof cases)[number], folder: string): string {
    const bad = path.join(folder, `bad-${c.name.replace(/\W+/g, '_')}.npz`);
    c.make(bad);
    return bad;
  }

  for (const c of cases) {
    it(c.name, () => {
      const bad = makeBad(c, dir);
      const l = path.join(dir, `list-${path.basename(bad)}.txt`);
      fs.writeFileSync(l, [files[0], files[1], bad, files[2]].join('\n'));
      const r = cli(['run', '-m', model, '--datalist', l, '--path_output', path.join(dir, `out-${path.basename(bad)}`), '-b', '1']);
      expect(r.status).toBe(2);
      const errs = lines(r.stderr);
      expect(errs).toHaveLength(1);
      expect(errs[0].startsWith(`rebake: ${bad}`)).toBe(true);
      expect(errs[0]).toMatch(c.expect);
    });
  }

  it('--skip-bad: all five listed at the end, the good inputs written, exit 0', () => {
    // Its own bad inputs, so that it does not depend on the cases above having run.
    const own = fs.mkdtempSync(path.join(dir, 'skip-'));
    const bads = cases.map((c) => makeBad(c, own));
    expect(bads.filter((f) => fs.existsSync(f))).toHaveLength(4); // the missing one does not exist
    const l = path.join(own, 'list-skip.txt');
    const all = [files[0], ...bads, files[1]];
    fs.writeFileSync(l, all.join('\n'));
    const out = path.join(dir, 'out-skip');
    const r = cli(['run', '-m', model, '--datalist', l, '--path_output', out, '-b', '3', '--skip-bad']);
    expect(r.status).toBe(0);
    const skipped = lines(r.stderr).filter((x) => x.startsWith('rebake: skipped bad input: '));
    expect(skipped).toHaveLength(5);
    expect(r.stdout).toMatch(/^rebake run: 2 outputs written .* \(7 inputs; 5 bad\)/);
    expect(fs.readdirSync(out).sort()).toEqual(['0_img000.npz', '6_img001.npz']);
  });

  it('an empty datalist, a missing datalist, an output path that is a file', () => {
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '\n\n');
    const asFile = path.join(dir, 'iam-a-file');
    fs.writeFileSync(asFile, 'x');
    const runs = [
      [['--datalist', empty, '--path_output', path.join(dir, 'o1')], `rebake: ${empty}: the datalist is empty (expected one .npz path per line)`],
      [['--datalist', path.join(dir, 'nope.txt'), '--path_output', path.join(dir, 'o2')], `rebake: ${path.join(dir, 'nope.txt')}: no such file (expected a datalist: one .npz path per line)`],
      [['--datalist', list, '--path_output', asFile], `rebake: ${asFile}: is a file; --path_output must be a folder (it will be created if missing)`],
    ] as const;
    for (const [args, line] of runs) {
      const r = cli(['run', '-m', model, ...args]);
      expect(r.status).toBe(2);
      expect(lines(r.stderr)).toEqual([line]);
    }
  });
});
