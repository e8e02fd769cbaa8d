/**
 * `rebake run --datalist` through the compiled CLI: numpy reads our outputs (keys, shapes, dtypes, values),
 * values equal onnxruntime (optimizations off) on the same, host-resized, images, and the worker layout
 * (-i/-p/-b) and sharding do not change them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { outputName } from '../../runtime/datalist.js';
import { maxAbsDiff } from '../helpers/ort.js';
import { argmax, makeDatalist, readOutputs, referenceOutputs, runsMaxDiff } from './fixtures.js';
import { cli, lines, python, tempDir } from './helpers.js';
import { saveClassifier } from './models.js';

let dir: string;
let model: string;
let list: string;
let files: string[];

beforeAll(() => {
  dir = tempDir('run');
  model = saveClassifier(path.join(dir, 'u8.onnx'), { input: 'uint8', twoOutputs: true });
  // Mostly model-sized images, and two sizes the host must resize (up and down).
  ({ list, files } = makeDatalist(path.join(dir, 'in'), 23, [{ h: 32, w: 32 }, { h: 32, w: 32 }, { h: 45, w: 61 }, { h: 20, w: 27 }]));
});

function run(out: string, extra: string[]) {
  const r = cli(['run', '-m', model, '--datalist', list, '--path_output', out, ...extra]);
  if (r.status !== 0) throw new Error(`rebake run exited ${r.status}: ${r.stderr}`);
  return r;
}

let serial: ReturnType<typeof readOutputs> | undefined;
/** The outputs of a -i 1 -p 1 -b 1 run, made by whichever test needs them first (no test relies on another). */
function serialRun(): ReturnType<typeof readOutputs> {
  if (!serial) {
    const out = path.join(dir, 'out-111');
    run(out, ['-i', '1', '-p', '1', '-b', '1']);
    serial = readOutputs(out);
  }
  return serial;
}

describe('datalist mode', () => {
  it('writes one numpy-readable npz per input: output_k in model order, shape [1, ...], datalist order', async () => {
    const out = path.join(dir, 'out-a');
    const r = run(out, ['-b', '4']);
    expect(lines(r.stdout)).toHaveLength(2);
    expect(r.stdout).toMatch(/^rebake run: 23 outputs written to .*out-a \(23 inputs\) in [\d.]+ s, [\d.]+ samples\/s \[-p 1 -i 1 -b 4 --threads \d+\]\npeak RSS: coordinator [\d.]+ MiB, process 0 \(pid \d+\) [\d.]+ MiB\n$/);

    const names = fs.readdirSync(out).sort();
    expect(names).toEqual(files.map((f, i) => outputName(i, files.length, f)));
    expect(names[0]).toBe('00_img000.npz');
    expect(names[22]).toBe('22_img022.npz');

    // numpy's view: keys, dtypes, shapes; and the values it reads, compared with onnxruntime here.
    const seen = python(
      `
import sys, os, numpy as np
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    z = np.load(os.path.join(d, f))
    print(f, ' '.join('%s:%s:%s' % (k, z[k].dtype, 'x'.join(map(str, z[k].shape))) for k in z.files), ' '.join(repr(float(v)) for v in z['output_0'].ravel()))
`,
      [out],
    ).trim().split('\n');
    expect(seen).toHaveLength(23);
    let worst = 0;
    for (let i = 0; i < 23; i++) {
      const [name, k0, k1, ...vals] = seen[i].split(' ');
      expect(name).toBe(names[i]);
      expect(k0).toBe('output_0:float32:1x10');
      expect(k1).toBe('output_1:float32:1x8');
      const ref = await referenceOutputs(model, files[i], 32);
      worst = Math.max(worst, maxAbsDiff(vals.map(Number), ref[0]));
    }
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('-i 1 -p 1 -b 1 and -i 2 -p 2 -b 7 give the same outputs and names', () => {
    const b = path.join(dir, 'out-227');
    const oa = serialRun();
    const report = path.join(dir, 'report-227.json');
    const r = run(b, ['-i', '2', '-p', '2', '-b', '7', '--report', report]);
    expect(r.stdout).toContain('[-p 2 -i 2 -b 7 --threads 1]');
    // Peak memory per process, in the JSON report and the summary.
    const { memory } = JSON.parse(fs.readFileSync(report, 'utf8')) as { memory: { coordinatorPeakRssBytes: number; processes: { process: number; pid: number; peakRssBytes: number }[] } };
    expect(memory.processes.map((p) => p.process)).toEqual([0, 1]);
    expect(new Set(memory.processes.map((p) => p.pid)).size).toBe(2);
    for (const bytes of [memory.coordinatorPeakRssBytes, ...memory.processes.map((p) => p.peakRssBytes)]) {
      expect(bytes).toBeGreaterThan(16 * 2 ** 20);
      expect(bytes).toBeLessThan(os.totalmem());
    }
    expect(lines(r.stdout)[1]).toBe(`peak RSS: coordinator ${(memory.coordinatorPeakRssBytes / 2 ** 20).toFixed(1)} MiB, ${memory.processes.map((p) => `process ${p.process} (pid ${p.pid}) ${(p.peakRssBytes / 2 ** 20).toFixed(1)} MiB`).join(', ')}`);
    const ob = readOutputs(b);
    expect([...ob.keys()]).toEqual([...oa.keys()]);
    expect(runsMaxDiff(oa, ob)).toBeLessThanOrEqual(1e-5);
    for (const [f, z] of oa) expect(argmax(ob.get(f)!.get('output_0')!.data as Float32Array)).toBe(argmax(z.get('output_0')!.data as Float32Array));
  });

  it('--shard k/n: three shards together equal the full run', () => {
    const full = serialRun();
    const out = path.join(dir, 'out-shards');
    const counts = [0, 1, 2].map((k) => {
      const r = run(out, ['-b', '3', '--shard', `${k}/3`]);
      return Number(/(\d+) outputs written/.exec(r.stdout)![1]);
    });
    expect(counts).toEqual([7, 8, 8]);
    const sharded = readOutputs(out);
    expect([...sharded.keys()]).toEqual([...full.keys()]);
    expect(runsMaxDiff(full, sharded)).toBeLessThanOrEqual(1e-5);
  });

  it('a float model gets the uint8 images through host vdsp preprocessing (the params given with --vdsp_params)', async () => {
    const fmodel = saveClassifier(path.join(dir, 'f32.onnx'), { input: 'float32', size: 24 });
    const vdsp = path.join(dir, 'vdsp.json');
    const params = {
      OpType: 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR',
      OpConfig: {
        IimageFormat: 'RGB_PLANAR', IimageWidth: 32, IimageHeight: 32, OimageWidth: 24, OimageHeight: 24, CropX: 4, CropY: 4,
        ResizeWidth: 32, ResizeHeight: 32, Mean: [0.485107421875, 0.4560546875, 0.406005859375], Std: [0.22900390625, 0.2239990234375, 0.2249755859375],
        NormaType: 'DIV255_MINUSMEAN_DIVSTD', ColorCvtCode: 'NO_CHANGE', ResizeType: 'BILINEAR_CV',
      },
    };
    fs.writeFileSync(vdsp, JSON.stringify(params));
    const out = path.join(dir, 'out-float');
    const r = cli(['run', '-m', fmodel, '--vdsp_params', vdsp, '--datalist', list, '--path_output', out, '-b', '5']);
    expect(r.status).toBe(0);
    // The reference: the runtime's preprocess() (tested against OpenCV by its own suite) then onnxruntime.
    const { preprocess } = await import('../../builders/preprocess/host.js');
    const { readNpz } = await import('../../core/npz.js');
    const { runOrt } = await import('../helpers/ort.js');
    const ort = (await import('onnxruntime-node')).default;
    let worst = 0;
    for (const i of [0, 2, 3]) {
      const img = readNpz(files[i]).get('input_0')!;
      const x = preprocess(img.data as Uint8Array, 3, img.shape[1], img.shape[2], params as never);
      const ref = (await runOrt(fmodel, { image: new ort.Tensor('float32', x, [1, 3, 24, 24]) })).probs.data as Float32Array;
      const got = readNpz(path.join(out, outputName(i, files.length, files[i]))).get('output_0')!.data as Float32Array;
      worst = Math.max(worst, maxAbsDiff(got, ref));
    }
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('a model with a fixed batch of 4: -b is set to 4, the short last batch is padded, padding is never written', async () => {
    const fixed = saveClassifier(path.join(dir, 'fixed4.onnx'), { input: 'uint8', batch: 4 });
    const out = path.join(dir, 'out-fixed');
    const r = cli(['run', '-m', fixed, '--datalist', list, '--path_output', out, '-b', '2']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("rebake: warning: -b 2: the model's batch size is fixed at 4; running 4 sample(s) per call");
    expect(fs.readdirSync(out)).toHaveLength(23); // 6 calls, the last with 3 real images and 1 padding row
    const { readNpz } = await import('../../core/npz.js');
    const ref = await referenceOutputs(model, files[22], 32);
    const got = readNpz(path.join(out, outputName(22, 23, files[22]))).get('output_0')!.data as Float32Array;
    expect(maxAbsDiff(got, ref[0])).toBeLessThanOrEqual(1e-5);
  });

  it('accepts "-i 2 p 2" (missing dash) with a warning, and rejects other stray words', () => {
    const out = path.join(dir, 'out-dash');
    const r = cli(['run', '-m', model, '--datalist', list, '--path_output', out, '-i', '2', 'p', '2', '-b', '8']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('rebake: warning: read "p 2" as "-p 2" (missing dash)');
    expect(r.stdout).toContain('[-p 2 -i 2 -b 8 --threads 1]');
    const bad = cli(['run', '-m', model, 'oops']);
    expect(bad.status).toBe(2);
    expect(lines(bad.stderr)).toEqual(['rebake: command line: unexpected argument "oops" (see rebake run --help)']);
  });
});
