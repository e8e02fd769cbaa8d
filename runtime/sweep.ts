/**
 * Find the fastest worker layout for this machine: short performance runs over every way of splitting the
 * cores into processes x sessions x intra-op threads, at a few batch sizes.
 */
import { runPerf, type PerfReport } from './perf.js';
import { cores, type RunSettings } from './start.js';

export interface Layout {
  processes: number;
  instances: number;
  threads: number;
  batch: number;
}

export interface SweepPoint extends Layout {
  throughput: number;
  p50: number;
}

/** Every p x i x t that uses exactly the cores, times each batch size. */
export function layouts(nCores: number, batches: number[]): Layout[] {
  const out: Layout[] = [];
  for (let p = 1; p <= nCores; p++) {
    for (let i = 1; p * i <= nCores; i++) {
      if (nCores % (p * i)) continue;
      for (const batch of batches) out.push({ processes: p, instances: i, threads: nCores / (p * i), batch });
    }
  }
  return out;
}

export async function sweep(base: RunSettings, opts: { duration: number; warmup: number; batches: number[] }, onPoint: (p: SweepPoint) => void): Promise<SweepPoint[]> {
  const points: SweepPoint[] = [];
  for (const l of layouts(cores(), opts.batches)) {
    const r: PerfReport | undefined = await runPerf({ ...base, ...l }, { duration: opts.duration, warmup: opts.warmup });
    if (!r) break; // interrupted
    const point = { ...l, batch: r.config.batch, throughput: r.throughput, p50: r.latencyMs.p50 };
    points.push(point);
    onPoint(point);
  }
  return points;
}

export function best(points: SweepPoint[]): SweepPoint | undefined {
  return points.reduce<SweepPoint | undefined>((b, p) => (!b || p.throughput > b.throughput ? p : b), undefined);
}

export function formatLayout(l: Layout): string {
  return `-p ${l.processes} -i ${l.instances} -b ${l.batch} --threads ${l.threads}`;
}
