/** `rebake run` without a datalist: the trtexec-style performance report, on stdout and as JSON. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../builders/ir/model.js';
import { classifier, saveClassifier } from './models.js';
import { cli, lines, tempDir } from './helpers.js';

let dir: string;
let model: string;

interface Report {
  mode: string;
  config: { processes: number; instances: number; batch: number; threads: number; input: { name: string; dtype: string; shape: number[] }; iterations?: number };
  runs: number;
  samples: number;
  seconds: number;
  throughput: number;
  latencyMs: Record<'avg' | 'min' | 'p50' | 'p90' | 'p95' | 'p99' | 'max', number>;
  perProcess: { process: number; pid: number; runs: number; samples: number; throughput: number }[];
  memory: { coordinatorPeakRssBytes: number; processes: { process: number; pid: number; peakRssBytes: number }[] };
}

beforeAll(() => {
  dir = tempDir('perf');
  model = saveClassifier(path.join(dir, 'u8.onnx'), { input: 'uint8' });
});

function perf(args: string[]): { report: Report; stdout: string; stderr: string } {
  const file = path.join(dir, `report-${Math.random().toString(36).slice(2)}.json`);
  const r = cli(['run', ...args, '--report', file]);
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return { report: JSON.parse(fs.readFileSync(file, 'utf8')) as Report, stdout: r.stdout, stderr: r.stderr };
}

describe('performance mode', () => {
  it('counts exactly the iterations asked for, over two processes, with ordered latency percentiles', () => {
    const { report: r, stdout } = perf(['-m', model, '-p', '2', '-i', '1', '-b', '4', '--iterations', '30', '--warmup', '1']);
    expect(r.mode).toBe('performance');
    expect(r.config).toMatchObject({ processes: 2, instances: 1, batch: 4, threads: 1, iterations: 30, input: { name: 'image', dtype: 'uint8', shape: [4, 3, 32, 32] } });
    expect(r.runs).toBe(30);
    expect(r.samples).toBe(120);
    expect(r.perProcess).toHaveLength(2);
    expect(r.perProcess.reduce((a, p) => a + p.runs, 0)).toBe(30);
    // The sum of per-process rates, each over its own busy time, which lies inside the wall window.
    expect(r.throughput).toBeCloseTo(r.perProcess.reduce((a, p) => a + p.throughput, 0), 6);
    expect(r.throughput).toBeGreaterThanOrEqual((r.samples / r.seconds) * 0.99);
    const l = r.latencyMs;
    const order = [l.min, l.p50, l.p90, l.p95, l.p99, l.max];
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(l.avg).toBeGreaterThanOrEqual(l.min);
    expect(l.avg).toBeLessThanOrEqual(l.max);
    expect(l.min).toBeGreaterThan(0);
    // The human summary says the same.
    expect(stdout).toContain('measured     30 runs, 120 samples in');
    expect(stdout).toMatch(/s wall\n/);
    expect(stdout).toContain(`throughput   ${r.throughput.toFixed(2)} samples/s`);
    expect(lines(stdout).filter((x) => /^process \d +pid \d+: \d+ runs/.test(x))).toHaveLength(2);
  });

  it('leaves nothing in the temp folder (onnxruntime writes a log file there in each process that loads it)', () => {
    const tmp = tempDir('perf-tmp');
    const r = cli(['run', '-m', model, '-p', '2', '-b', '1', '--iterations', '4', '--warmup', '0'], { env: { TMPDIR: tmp } });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('reports the peak RSS of the coordinator and of each worker process, which holds the model', () => {
    // 96 MB of classifier weights: more than a bare node process's own footprint, so the bounds below mean something.
    const big = saveClassifier(path.join(dir, 'big.onnx'), { input: 'uint8', size: 8, classes: 3_000_000 });
    const modelBytes = fs.statSync(big).size;
    const { report: r, stdout } = perf(['-m', big, '-p', '2', '-b', '1', '--iterations', '2', '--warmup', '0']);
    const m = r.memory;
    expect(m.processes.map((p) => [p.process, p.pid])).toEqual(r.perProcess.map((p) => [p.process, p.pid]));
    for (const p of m.processes) {
      expect(p.peakRssBytes).toBeGreaterThan(modelBytes);
      expect(p.peakRssBytes).toBeLessThan(os.totalmem());
    }
    // The coordinator never loads the model.
    expect(m.coordinatorPeakRssBytes).toBeGreaterThan(16 * 2 ** 20);
    expect(m.coordinatorPeakRssBytes).toBeLessThan(modelBytes);
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    expect(stdout).toContain(`peak RSS     coordinator ${mib(m.coordinatorPeakRssBytes)}, ${m.processes.map((p) => `process ${p.process} (pid ${p.pid}) ${mib(p.peakRssBytes)}`).join(', ')}\n`);
    fs.rmSync(big);
  });

  it('a model with open height/width needs -s; -s fills them in', () => {
    const m = classifier({ input: 'float32' });
    m.graph.inputs[0].shape = ['N', 3, 'H', 'W'];
    const open = path.join(dir, 'open.onnx');
    saveModel(m, open);
    const r = cli(['run', '-m', open, '--iterations', '2']);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([`rebake: ${open}: input "image" has a dynamic height (H); give the input size with -s [C,H,W]`]);
    const { report } = perf(['-m', open, '-s', '[3,40,48]', '-b', '2', '--iterations', '3']);
    expect(report.config.input).toEqual({ name: 'image', dtype: 'float32', shape: [2, 3, 40, 48] });
    expect(report.runs).toBe(3);
  });

  it('-m takes the build prefix and the build folder too', () => {
    const build = path.join(dir, 'ws', 'official_x_fp32');
    fs.mkdirSync(build, { recursive: true });
    fs.copyFileSync(model, path.join(build, 'mod.onnx'));
    for (const m of [path.join(build, 'mod'), build]) expect(perf(['-m', m, '--iterations', '2']).report.runs).toBe(2);
    const r = cli(['run', '-m', path.join(dir, 'ws', 'nothing', 'mod'), '--iterations', '2']);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)[0]).toContain('no model here: expected');
  });
});
