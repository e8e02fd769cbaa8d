/**
 * CLI-level fuzzing: a seeded sample of mutated configs, vdsp params and npz inputs through the compiled
 * `rebake` as a user runs it. Property: exit 0 or 2 (never 1, never killed by the time bound), no stack
 * trace, an exit 2 ends with one `rebake: ` line, and an exit 2 leaves no build folder or output folder.
 * Runs per kind: a tenth of `REBAKE_FUZZ_RUNS` (the full `npm run fuzz`), or 3 in `npm test`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpz } from '../../core/npz.js';
import { saveModel } from '../../builders/ir/model.js';
import { CLI, cli } from '../helpers/cli.js';
import { tinyClassifier } from '../helpers/models.js';
import { mutatedBytes, mutatedText, runs, SEED } from './mutate.js';

const BOUND_MS = 90_000;
const perKind = Math.max(3, Math.round(runs(30) / 10));

let root: string;
let model: string;
let built: string;
let cases = 0;
const t0 = performance.now();

const VDSP = `{
  "OpType": "FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR",
  "OpConfig": {
    "IimageFormat": "RGB_PLANAR", "IimageWidth": 10, "IimageHeight": 10, "OimageWidth": 8, "OimageHeight": 8,
    "CropX": 1, "CropY": 1, "ResizeWidth": 10, "ResizeHeight": 10,
    "Mean": [0.485, 0.456, 0.406], "Std": [0.229, 0.224, 0.225],
    "NormaType": "DIV255_MINUSMEAN_DIVSTD", "ColorCvtCode": "NO_CHANGE", "ResizeType": "BILINEAR_CV"
  }
}
`;
const yaml = (modelPath: string) => `name: tiny
frontend:
  type: onnx
  checkpoint: ${modelPath}
  shape:
    x: [1, 3, 8, 8]
backend:
  type: onnxruntime
  dtype: fp32
graph:
  extra_ops:
    type: softmax
vdsp_params: p.json
workspace:
  path: ./ws
`;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-fuzz-cli-'));
  model = path.join(root, 'model.onnx');
  saveModel(tinyClassifier(), model);
  // One good build (uint8 10x10 in, preprocessing baked) for the run cases.
  fs.writeFileSync(path.join(root, 'p.json'), VDSP);
  fs.writeFileSync(path.join(root, 'c.yaml'), yaml(model));
  const r = cli(['build', path.join(root, 'c.yaml')]);
  expect(r.status, r.stderr).toBe(0);
  built = path.join(root, 'ws', 'tiny', 'mod');
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  process.stderr.write(`fuzz cli: ${cases} runs of the rebake command in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${SEED})\n`);
});

interface Outcome {
  status: number | null;
  stderr: string;
  killed: boolean;
}

function rebake(args: string[], cwd: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, BOUND_MS);
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, killed });
    });
  });
}

/** The CLI property; `leftovers` lists what must not exist after an exit 2. */
function expectCleanOutcome(o: Outcome, caseDir: string, leftovers: string[]): void {
  cases++;
  const what = `case ${caseDir}: exit ${o.status}\n${o.stderr}`;
  expect(o.killed, `hung past ${BOUND_MS} ms: ${what}`).toBe(false);
  expect([0, 2], what).toContain(o.status);
  expect(o.stderr, what).not.toMatch(/\n\s+at |internal error/);
  if (o.status === 2) {
    const lines = o.stderr.trimEnd().split('\n');
    expect(lines[lines.length - 1], what).toMatch(/^rebake: \S/);
    for (const l of leftovers) expect(fs.existsSync(path.join(caseDir, l)), `${l} left behind: ${what}`).toBe(false);
  }
}

/** Run `each` over the samples two at a time (two cores). */
async function inPairs<T>(samples: T[], each: (v: T, k: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < samples.length) {
      const k = next++;
      await each(samples[k], k);
    }
  };
  await Promise.all([lane(), lane()]);
}

describe('rebake through the CLI on fuzzed inputs', () => {
  it('build: mutated YAML and vdsp params exit 0 or 2, and a failed build leaves no build folder', async () => {
    const texts = fc.sample(fc.tuple(mutatedText([yaml('model.onnx')]), fc.oneof(fc.constant(VDSP), mutatedText([VDSP]))), { seed: SEED, numRuns: perKind });
    await inPairs(texts, async ([config, vdsp], k) => {
      const dir = path.join(root, `build-${k}`);
      fs.mkdirSync(dir);
      fs.copyFileSync(model, path.join(dir, 'model.onnx'));
      fs.writeFileSync(path.join(dir, 'c.yaml'), config);
      fs.writeFileSync(path.join(dir, 'p.json'), vdsp);
      expectCleanOutcome(await rebake(['build', 'c.yaml'], dir), dir, ['ws/tiny']);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });

  it('run: a mutated npz input exits 0 or 2, and a failed run leaves no output folder', async () => {
    const image = Buffer.concat(encodeNpz({ input_0: { dtype: 'uint8', shape: [3, 10, 10], data: new Uint8Array(300).map((_, i) => (i * 7) & 255) } }));
    const inputs = fc.sample(mutatedBytes([Uint8Array.from(image)]), { seed: SEED, numRuns: perKind });
    await inPairs(inputs, async (bytes, k) => {
      const dir = path.join(root, `run-${k}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'a.npz'), bytes);
      fs.writeFileSync(path.join(dir, 'list.txt'), 'a.npz\n');
      expectCleanOutcome(await rebake(['run', '-m', built, '--datalist', 'list.txt', '--path_output', 'out'], dir), dir, ['out']);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
});
