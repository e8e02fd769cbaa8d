/**
 * What the benchmarks share: build configs written on the fly, and per-process measurements (peak RSS is
 * per process, so each measured build or bare protobuf round trip runs in a fresh child of the bench).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { runBuild } from '../builders/build.js';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function writeConfig(dir: string, name: string, checkpoint: string, passesOff: string[] = []): string {
  const yaml = path.join(dir, `${name}.yaml`);
  const passes = passesOff.length ? `passes:\n${passesOff.map((p) => `  ${p}: false`).join('\n')}\n` : '';
  fs.writeFileSync(yaml, `name: ${name}\nfrontend:\n  type: onnx\n  checkpoint: ${checkpoint}\n  dtype: fp32\nbackend:\n  type: onnxruntime\n  dtype: fp32\nworkspace:\n  path: ${path.join(dir, 'ws')}\n${passes}`);
  return yaml;
}

export interface ChildResult {
  seconds: number;
  maxRssBytes: number;
}

export type ChildKind = 'bare' | 'build';

/** In the child: `bare` = read + protobufjs decode + encode + write of a model; `build` = rebake build of a YAML. */
async function measure(kind: ChildKind, arg: string, outDir: string): Promise<ChildResult> {
  const t0 = performance.now();
  if (kind === 'bare') {
    const { onnx } = onnxProto;
    const out = onnx.ModelProto.encode(onnx.ModelProto.decode(fs.readFileSync(arg))).finish();
    fs.writeFileSync(path.join(outDir, 'bare.onnx'), out);
  } else {
    await runBuild(arg);
  }
  return { seconds: (performance.now() - t0) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** Call first in a bench's main: true when this process is a measurement child (it has then printed its result). */
export async function runAsChild(): Promise<boolean> {
  if (process.argv[2] !== '--child') return false;
  const res = await measure(process.argv[3] as ChildKind, process.argv[4], process.argv[5]);
  process.stdout.write(`${JSON.stringify(res)}\n`);
  return true;
}

/** Run one measurement in a fresh child process of the bench script `self`. */
export function inChild(self: string, kind: ChildKind, arg: string, outDir: string): ChildResult {
  const r = spawnSync(process.execPath, [self, '--child', kind, arg, outDir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${kind} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** min–max of a list, for the spread beside a median. */
export const spread = (xs: number[], digits = 3) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

/** The CPU a measurement ran on: model, cores, the SIMD flags that decide ORT's and OpenCV's kernels, the load. */
export function cpuLine(): string {
  let flags = '';
  try {
    const all = new Set(/^flags\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/) ?? []);
    flags = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'neon', 'asimd'].filter((f) => all.has(f)).join(' ');
  } catch {
    flags = '(no /proc/cpuinfo)';
  }
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  return `cpu: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores; flags: ${flags}; load ${load} (1/5/15 min)`;
}
