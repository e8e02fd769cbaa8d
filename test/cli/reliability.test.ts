/**
 * One test per reliability class (issue #10), through the compiled CLI as a user runs it: the exit code
 * and rebake's own line, and that nothing is written where it should not be.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpz } from '../../core/npz.js';
import { saveModel } from '../../builders/ir/model.js';
import { cli, lines, python, tempDir } from '../runtime/helpers.js';
import { classifier } from '../runtime/models.js';

const PHOTOS = path.resolve('test/fixtures/photos');
const VDSP = {
  OpType: 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR',
  OpConfig: {
    IimageFormat: 'RGB_PLANAR', IimageWidth: 34, IimageHeight: 34, OimageWidth: 32, OimageHeight: 32, CropX: 1, CropY: 1,
    ResizeWidth: 34, ResizeHeight: 34, Mean: [0.485, 0.456, 0.406], Std: [0.229, 0.224, 0.225],
    NormaType: 'DIV255_MINUSMEAN_DIVSTD', ColorCvtCode: 'NO_CHANGE', ResizeType: 'BILINEAR_CV',
  },
};
const config = (name: string, extra = '') => `name: ${name}\nfrontend:\n  type: onnx\n  checkpoint: float.onnx\nbackend:\n  type: onnxruntime\nworkspace:\n  path: ./ws\n${extra}`;

let dir: string;
let image: string;
let list: string;

beforeAll(() => {
  dir = tempDir('reliability');
  saveModel(classifier({ input: 'float32', size: 32 }), path.join(dir, 'float.onnx'));
  fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify(VDSP));
  image = path.join(dir, 'img.npz');
  writeNpz(image, { input_0: { dtype: 'uint8', shape: [3, 34, 34], data: new Uint8Array(3 * 34 * 34).map((_, i) => (i * 31) & 255) } });
  list = path.join(dir, 'list.txt');
  fs.writeFileSync(list, `${image}\n`);
  // A float model built the zoo's way (no vdsp_params), and one with the preprocessing baked in.
  fs.writeFileSync(path.join(dir, 'plain.yaml'), config('plain'));
  fs.writeFileSync(path.join(dir, 'baked.yaml'), config('baked', 'vdsp_params: p.json\n'));
  for (const y of ['plain.yaml', 'baked.yaml']) expect(cli(['build', path.join(dir, y)]).status).toBe(0);
});

const run = (...args: string[]) => cli(['run', ...args], { cwd: dir });

describe('reliability classes through the CLI', () => {
  it('1 silent wrong answers: uint8 pixels never reach a float model without preprocessing; differing params for a baked model are refused', () => {
    const out = path.join(dir, 'out1');
    const r = run('-m', 'ws/plain/mod', '--datalist', list, '--path_output', out);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `rebake: ${image} input_0: a uint8 image, but the model takes float32 (normalized) input and no preprocessing is known for it: give --vdsp_params <params.json> to preprocess on the host, or build the model with vdsp_params to bake the preprocessing in`,
    ]);
    expect(fs.existsSync(out)).toBe(false);
    // The fix the message names works.
    expect(run('-m', 'ws/plain/mod', '--datalist', list, '--path_output', out, '--vdsp_params', 'p.json').status).toBe(0);

    // The calibration pipeline contradicting the deployed preprocessing: one notice line, the build goes on.
    const ops = path.join(dir, 'ops.yaml');
    fs.writeFileSync(ops, config('ops', 'vdsp_params: p.json\ndataset:\n  process_ops:\n    - type: Resize\n      size: [34, 34]\n    - type: CenterCrop\n      crop_size: [30, 30]\n'));
    const built = cli(['build', ops]);
    expect(built.status).toBe(0);
    expect(lines(built.stderr).filter((l) => l.startsWith('notice:'))).toEqual([
      `notice: ${ops}:15:18 dataset.process_ops[1].crop_size: CenterCrop to [30, 30], but the vdsp params crop to [32, 32] (${path.join(dir, 'p.json')}); calibration images would be preprocessed unlike the deployed model's`,
    ]);

    fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ ...VDSP, OpConfig: { ...VDSP.OpConfig, Mean: [0.5, 0.5, 0.5] } }));
    const m = run('-m', 'ws/baked/mod', '--datalist', list, '--path_output', path.join(dir, 'out1b'), '--vdsp_params', 'other.json');
    expect(m.status).toBe(2);
    expect(lines(m.stderr)).toEqual([
      `rebake: other.json: these params differ from the preprocessing baked into the model (${path.join(dir, 'p.json')}, recorded in its mod.json) at OpConfig.Mean: [0.5,0.5,0.5] vs [0.485,0.456,0.406]; leave out --vdsp_params, or rebuild the model with these params`,
    ]);
  });

  it('2 paths: a build name of ".." or a symlinked build folder never writes outside the workspace; output targets are checked first', () => {
    fs.writeFileSync(path.join(dir, 'up.yaml'), config('..'));
    const up = cli(['build', path.join(dir, 'up.yaml')]);
    expect(up.status).toBe(2);
    expect(up.stderr).toBe(`rebake: ${path.join(dir, 'up.yaml')}:1:7 name: must name a folder inside workspace.path, got ".."\n`);
    expect(fs.existsSync(path.join(dir, 'mod.onnx'))).toBe(false);

    const elsewhere = tempDir('elsewhere');
    fs.mkdirSync(path.join(dir, 'ws'), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(dir, 'ws', 'linked'));
    fs.writeFileSync(path.join(dir, 'linked.yaml'), config('linked'));
    const link = cli(['build', path.join(dir, 'linked.yaml')]);
    expect(link.status).toBe(2);
    expect(link.stderr).toBe(`rebake: ${path.join(dir, 'ws', 'linked')}: the build folder is a symbolic link: rebake writes builds only into a real folder under workspace.path (remove the link, or point workspace.path at the target)\n`);
    expect(fs.readdirSync(elsewhere)).toEqual([]);

    // A path spelled in another encoding than UTF-8 would name nothing: a located line, not "no such file".
    const latin1 = path.join(dir, 'latin1.txt');
    fs.writeFileSync(latin1, Buffer.concat([Buffer.from(`${image}\n`), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6e, 0x70, 0x7a, 0x0a])]));
    const enc = run('-m', 'ws/baked/mod', '--datalist', latin1, '--path_output', 'out2');
    expect(enc.status).toBe(2);
    expect(enc.stderr).toBe(`rebake: ${latin1}:2: not valid UTF-8 text (expected a datalist: one .npz path per line, as UTF-8)\n`);
    expect(fs.existsSync(path.join(dir, 'out2'))).toBe(false);
    // A fifo would block the read forever: refused at once.
    const fifo = path.join(dir, 'fifo.yaml');
    python(`import os, sys\nos.mkfifo(sys.argv[1])`, [fifo]);
    const f = cli(['build', fifo]);
    expect(f.status).toBe(2);
    expect(f.stderr).toBe(`rebake: ${fifo}: is a device, fifo or socket, not a regular file (expected a build config YAML)\n`);

    const rep = run('-m', 'ws/baked/mod', '--iterations', '2', '--report', 'ws');
    expect(rep.status).toBe(2);
    expect(rep.stderr).toBe('rebake: ws: is a folder; --report must be a file path\n');
    expect(rep.stdout).toBe(''); // refused before the performance run
  });

  it('3 sizes: counts over their limit are one located line, never an allocation', () => {
    expect(run('-m', 'ws/baked/mod', '-p', '100000').stderr).toBe('rebake: command line: --processes 100000 is over the limit of 256\n');
    expect(run('-m', 'ws/baked/mod', '-i', '9999999999999999999').stderr).toBe('rebake: command line: --instances must be an integer >= 1, got "9999999999999999999"\n');
    expect(run('-m', 'ws/baked/mod', '-p', '64', '-i', '64').stderr).toBe('rebake: command line: -p 64 x -i 64 is 4096 sessions, over the limit of 1024\n');
    // A model that takes any image size: the batch buffer is sized from -b and -s, and checked first.
    const dyn = classifier({ input: 'float32', size: 32 });
    dyn.graph.inputs[0].shape = ['N', 3, 'H', 'W'];
    saveModel(dyn, path.join(dir, 'dyn.onnx'));
    const big = run('-m', 'dyn.onnx', '-b', '1024', '-s', '[3,4096,4096]', '--iterations', '1');
    expect(big.status).toBe(2);
    expect(big.stderr).toBe('rebake: dyn.onnx: -b 1024 of [3, 4096, 4096] float32 is 192.0 GiB per run() call, over the limit of 2 GiB; use a smaller -b\n');
  });

  it('4 partial work: image2npz with a bad image writes nothing (or skips and lists it); vamp_eval.py says what rebake eval says', () => {
    const photos = tempDir('photos');
    fs.copyFileSync(path.join(PHOTOS, 'chelsea.jpg'), path.join(photos, 'chelsea.jpg'));
    fs.writeFileSync(path.join(photos, 'broken.jpg'), 'not a jpeg');
    const target = path.join(dir, 'npz4');
    const text = path.join(dir, 'list4.txt');
    const args = ['image2npz', '--dataset_path', photos, '--target_path', target, '--text_path', text, '--suffix', '.jpg'];
    const bad = cli(args);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(`rebake: ${path.join(photos, 'broken.jpg')}: cannot decode the image: not a supported format (JPEG, PNG, WebP, TIFF, GIF, AVIF) or a corrupt file\n`);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(text)).toBe(false);
    const skip = cli([...args, '--skip-bad']);
    expect(skip.status).toBe(0);
    expect(lines(skip.stderr)).toEqual([`rebake: skipped bad image: ${path.join(photos, 'broken.jpg')}: cannot decode the image: not a supported format (JPEG, PNG, WebP, TIFF, GIF, AVIF) or a corrupt file`]);
    expect(lines(fs.readFileSync(text, 'utf8'))).toEqual([path.join(target, path.basename(photos), 'chelsea.npz')]);

    const results = path.join(dir, 'results4');
    fs.mkdirSync(results);
    fs.writeFileSync(path.join(results, '0_img.npz'), Buffer.from('PK\x03\x04 cut short'));
    const evalArgs = ['--result_path', results, '--datalist', list, '--gt', path.join(dir, 'gt4.txt')];
    fs.writeFileSync(path.join(dir, 'gt4.txt'), `${image} 3\n`);
    const ours = cli(['eval', ...evalArgs]);
    expect(ours.status).toBe(2);
    expect(ours.stderr).toBe(`rebake: ${path.join(results, '0_img.npz')}: truncated npz: the zip's central directory is missing (file cut short at 14 bytes?)\n`);
    const py = python(`import subprocess, sys\nr = subprocess.run([sys.executable, 'eval/vamp_eval.py', *sys.argv[1:]], capture_output=True, text=True)\nprint(r.returncode)\nsys.stdout.write(r.stderr)`, evalArgs);
    expect(py).toBe(`2\n${ours.stderr}`);
  });

  it('5 one voice: help layout, rebake help <command>, "not an ONNX model", usage errors in our words', () => {
    for (const c of ['build', 'inspect', 'zoo', 'run', 'image2npz', 'eval']) {
      const h = cli([c, '--help']);
      expect(h.status).toBe(0);
      expect(h.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: rebake ${c} `));
      expect(h.stdout).toMatch(/\nOptions:\n[\s\S]*-h, --help/);
      expect(h.stdout.trimEnd().split('\n').pop()).toMatch(/^Exit codes: 0 success, 2 bad input or usage/);
      expect(cli(['help', c]).stdout).toBe(h.stdout);
    }
    fs.writeFileSync(path.join(dir, 'photo.onnx'), fs.readFileSync(path.join(PHOTOS, 'chelsea.jpg')));
    const notOnnx = cli(['inspect', path.join(dir, 'photo.onnx')]);
    expect(notOnnx.status).toBe(2);
    expect(notOnnx.stderr).toBe(`rebake: ${path.join(dir, 'photo.onnx')}: not an ONNX model (the bytes do not decode as an ONNX protobuf)\n`);
    expect(cli(['run', '--fast']).stderr).toMatch(/^rebake: command line: unknown option --fast; options: --model, /);
  });

  it('6 performance mode: a run too short for a steady rate says so and reports samples / wall time', () => {
    const report = path.join(dir, 'perf.json');
    const r = run('-m', 'ws/baked/mod', '-p', '2', '-i', '2', '--iterations', '3', '--warmup', '0', '--report', report);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nthroughput +[\d.]+ samples\/s \([\d.]+ runs\/s; samples \/ wall time\)\n/);
    expect(r.stdout).toMatch(/\nnote +3 measured run\(s\) over 4 session\(s\) \(1 ran none\)|\nnote +3 measured run\(s\) over 4 session\(s\) \(\d ran none\): too few for a steady rate \(wanted >= 5 per session\), so throughput is samples \/ wall time; use --duration or --iterations >= 20\n/);
    const json = JSON.parse(fs.readFileSync(report, 'utf8')) as { throughput: number; samples: number; seconds: number; note?: string };
    expect(json.note).toMatch(/^3 measured run\(s\) over 4 session\(s\)/);
    expect(json.throughput).toBeCloseTo(json.samples / json.seconds, 6);
    const steady = run('-m', 'ws/baked/mod', '--iterations', '10', '--warmup', '0');
    expect(steady.status).toBe(0);
    expect(steady.stdout).toMatch(/sum over sessions of samples \/ busy time/);
    expect(steady.stdout).not.toMatch(/\nnote /);
  });
});
