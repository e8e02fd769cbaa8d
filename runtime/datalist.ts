/**
 * Datalist mode: one npz in, one npz out, named so that sorting the output folder gives datalist order
 * (`<zero-padded index>_<input base name>.npz`, width from the list length), which is how the zoo's Python
 * scripts pair outputs with inputs. Only this process writes outputs, each atomically; `--resume` skips
 * outputs that exist and load; `--shard k/n` runs a contiguous slice with global indices, so the union of
 * the shards is the full run.
 */
import { readDatalist } from '../core/datalist.js';
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError } from '../core/errors.js';
import { ensureDir } from '../core/fsutil.js';
import { asNpyDtype, readNpz, writeNpz, type NpyArray } from '../core/npz.js';
import { Interrupted, type MemoryReport, type Pool, type Unit, type UnitResult } from './pool.js';
import { peakRssBytes } from './link.js';
import { Progress } from '../core/progress.js';
import type { BadItem, InputPlan } from './protocol.js';
import { startPool, withInterrupt, type RunSettings } from './start.js';

export interface Shard {
  k: number;
  n: number;
}

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  const k = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || k >= n) {
    throw new RebakeError('CLI_USAGE', `--shard ${s}: expected k/n with 0 <= k < n (e.g. 0/4, as a Kubernetes completion index or a Slurm array task id)`, { file: 'command line' });
  }
  return { k, n };
}

/** The contiguous index range [start, end) of shard k of n over `count` entries. */
export function shardRange(count: number, shard?: Shard): [number, number] {
  if (!shard) return [0, count];
  return [Math.floor((shard.k * count) / shard.n), Math.floor(((shard.k + 1) * count) / shard.n)];
}

export function outputName(index: number, total: number, input: string): string {
  const width = String(Math.max(total - 1, 0)).length;
  return `${String(index).padStart(width, '0')}_${path.basename(input).replace(/\.npz$/i, '')}.npz`;
}

const TEMP = /^\..+\.tmp-(\d+)-\d+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create the output folder (true if this call created it); remove temp files a killed earlier run of ours left behind. */
export function prepareOutputDir(dir: string): boolean {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new RebakeError('OUTPUT_NOT_DIR', 'is a file; --path_output must be a folder (it will be created if missing)', { file: dir });
  }
  const created = !fs.existsSync(dir);
  ensureDir(dir);
  for (const f of fs.readdirSync(dir)) {
    const m = TEMP.exec(f);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    // Another machine's live shard may share this folder: only temp files nobody touched for a while.
    const file = path.join(dir, f);
    if (Date.now() - fs.statSync(file).mtimeMs > 10_000) fs.rmSync(file, { force: true });
  }
  return created;
}

/** An output that loads and has every output_k with a batch dim of 1. */
export function isValidOutput(file: string, outputs: number): boolean {
  if (!fs.existsSync(file)) return false;
  try {
    const z = readNpz(file);
    for (let k = 0; k < outputs; k++) if (z.get(`output_${k}`)?.shape[0] !== 1) return false;
    return true;
  } catch (e) {
    if (e instanceof RebakeError) return false;
    throw e;
  }
}

export interface DatalistOptions {
  datalist: string;
  output: string;
  resume: boolean;
  skipBad: boolean;
  shard?: Shard;
  /** Draw the progress bar (on a terminal). */
  progress: boolean;
}

export interface DatalistSummary {
  mode: 'datalist';
  inputs: number;
  written: number;
  resumed: number;
  bad: BadItem[];
  /** Inputs whose worker died twice (or with no worker left to retry on). */
  lost: { index: number; file: string; why: string }[];
  /** Inputs neither written, bad, nor lost (interrupted, or no worker left). */
  notRun: number;
  interrupted: boolean;
  seconds: number;
  /** From the first batch handed out to the last output written (model loading excluded). */
  processingSeconds: number;
  samplesPerSecond: number;
  meanBatchMs: number;
  /** Peak resident memory of the coordinator and of each worker process. */
  memory: MemoryReport;
  config: { processes: number; instances: number; batch: number; threads: number; model: string; shard?: string };
}

export async function runDatalist(s: RunSettings, d: DatalistOptions): Promise<DatalistSummary> {
  const t0 = performance.now();
  const entries = readDatalist(d.datalist);
  const [start, end] = shardRange(entries.length, d.shard);
  const created = prepareOutputDir(d.output);
  const name = (i: number) => path.join(d.output, outputName(i, entries.length, entries[i]));
  const bad: BadItem[] = [];
  const lost: DatalistSummary['lost'] = [];
  let pool: Pool | undefined;
  let input: InputPlan | undefined;
  let interrupted = false;
  let written = 0;
  let resumed = 0;
  let batchMs = 0;
  let batches = 0;
  let firstDispatch = 0;
  let lastWrite = 0;
  let stopAt: BadItem | undefined;

  const body = async (): Promise<void> => {
    const started = await startPool(s, (p) => (pool = p));
    const { info } = started;
    const plan = (input = started.input);
    const pending: number[] = [];
    for (let i = start; i < end; i++) {
      if (d.resume && isValidOutput(name(i), info.outputs.length)) resumed++;
      else pending.push(i);
    }
    const units: Unit[] = [];
    for (let j = 0; j < pending.length; j += plan.batch) {
      units.push({ id: units.length, attempts: 0, items: pending.slice(j, j + plan.batch).map((index) => ({ index, file: path.resolve(entries[index]) })) });
    }
    const progress = new Progress(pending.length, 'img', d.progress);

    const write = (r: UnitResult): void => {
      const rowsInBatch = plan.fixedBatch ? plan.batch : r.rows.length;
      const per = r.outputs.map((o, k) => {
        const dtype = asNpyDtype(o.dtype);
        if (o.dims[0] !== rowsInBatch || !dtype) {
          throw new RebakeError('MODEL_OUTPUTS', `output ${k} is ${o.dtype} [${o.dims.join(', ')}]; the runner needs numeric outputs whose first dim is the batch (${rowsInBatch})`, { file: s.model.onnx });
        }
        return { dtype, rest: o.dims.slice(1), size: o.data.length / rowsInBatch };
      });
      r.rows.forEach((index, j) => {
        const arrays = new Map<string, NpyArray>();
        r.outputs.forEach((o, k) => {
          const p = per[k];
          arrays.set(`output_${k}`, { dtype: p.dtype, shape: [1, ...p.rest], data: o.data.subarray(j * p.size, (j + 1) * p.size) as NpyArray['data'] });
        });
        writeNpz(name(index), arrays);
        written++;
        progress.tick();
      });
      lastWrite = performance.now();
    };

    let next = 0;
    try {
      await pool!.run(
        { mode: 'datalist', input: plan, warmup: 0 },
        {
          syncStart: false,
          next: () => {
            if (next === 0) firstDispatch = performance.now();
            return interrupted || stopAt ? undefined : units[next++];
          },
          onResult: (r) => {
            if (interrupted) return;
            if (r.timing) {
              write(r);
              batchMs += r.timing.ms;
              batches++;
            }
            if (r.bad.length) {
              bad.push(...r.bad);
              if (!d.skipBad && !stopAt) {
                stopAt = r.bad[0];
                pool!.end();
              }
            }
          },
          onLost: (unit, why) => {
            for (const it of unit.items) lost.push({ index: it.index, file: it.file, why });
          },
        },
      );
    } finally {
      progress.clear();
    }
    if (stopAt) throw new RebakeError(stopAt.code, stopAt.message);
  };

  try {
    await withInterrupt(
      () => {
        interrupted = true;
        pool?.end();
      },
      () => body().catch((e) => {
        if (!(e instanceof Interrupted)) throw e;
      }),
    );
  } catch (e) {
    // A run that fails before its first output leaves no empty folder behind.
    if (created && !fs.readdirSync(d.output).length) fs.rmdirSync(d.output);
    throw e;
  }
  const processing = (lastWrite || firstDispatch) - firstDispatch;
  bad.sort((a, b) => a.index - b.index);
  lost.sort((a, b) => a.index - b.index);
  return {
    mode: 'datalist',
    inputs: end - start,
    written,
    resumed,
    bad,
    lost,
    notRun: end - start - resumed - written - bad.length - lost.length,
    interrupted,
    seconds: (performance.now() - t0) / 1000,
    processingSeconds: processing / 1000,
    samplesPerSecond: processing > 0 ? (written * 1000) / processing : 0,
    meanBatchMs: batches ? batchMs / batches : 0,
    memory: pool?.memory() ?? { coordinatorPeakRssBytes: peakRssBytes(), processes: [] },
    config: { processes: s.processes, instances: s.instances, batch: input?.batch ?? s.batch, threads: s.threads, model: s.model.onnx, shard: d.shard ? `${d.shard.k}/${d.shard.n}` : undefined },
  };
}
