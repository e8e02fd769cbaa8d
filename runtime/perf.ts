/**
 * Performance mode, reported like trtexec / benchmark_app: synthetic inputs of the model's shape, a warm-up
 * on every session, then a fixed number of run() calls or a fixed duration handed out from the shared
 * queue. Latency is the wall time of each run() call inside its session thread. Throughput is the sum over
 * sessions of samples / that session's busy time (start of its first measured call to end of its last): at
 * the end of a fixed-duration run the sessions finish their last call at different times, and with calls of
 * half a second that ragged end would otherwise count as idle time and understate several sessions' rate.
 */
import { InternalError } from '../core/errors.js';
import { formatMemory, Interrupted, type MemoryReport, type Pool } from './pool.js';
import { cores, startPool, withInterrupt, type RunSettings } from './start.js';

export interface PerfOptions {
  /** run() calls in total, over all sessions. */
  iterations?: number;
  /** Seconds to keep handing out calls (used when iterations is not given). */
  duration: number;
  /** run() calls per session before measuring. */
  warmup: number;
}

export interface Latency {
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface PerfReport {
  mode: 'performance';
  model: string;
  config: {
    processes: number;
    instances: number;
    batch: number;
    threads: number;
    input: { name: string; dtype: string; shape: number[] };
    warmup: number;
    iterations?: number;
    duration?: number;
    cores: number;
  };
  interrupted: boolean;
  runs: number;
  samples: number;
  /** Wall time from the first call handed out to the last one back. */
  seconds: number;
  /** Samples per second: the sum of every session's samples / busy time (samples / wall time when `note` says why). */
  throughput: number;
  /** Present when the run was too short for a steady rate. */
  note?: string;
  runsPerSecond: number;
  latencyMs: Latency;
  perProcess: { process: number; pid: number; runs: number; samples: number; throughput: number }[];
  memory: MemoryReport;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function latencyStats(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  const avg = s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0;
  return { avg, min: s[0] ?? 0, p50: percentile(s, 50), p90: percentile(s, 90), p95: percentile(s, 95), p99: percentile(s, 99), max: s[s.length - 1] ?? 0 };
}

/** Measured calls every session needs before per-session rates are summed as a steady throughput. */
export const STEADY_RUNS = 5;

export async function runPerf(s: RunSettings, o: PerfOptions): Promise<PerfReport | undefined> {
  let pool: Pool | undefined;
  let interrupted = false;
  const latencies: number[] = [];
  let t0 = 0;
  let tEnd = 0;
  let issued = 0;
  return withInterrupt(
    () => {
      interrupted = true;
      pool?.end();
    },
    async () => {
      let started;
      try {
        started = await startPool(s, (p) => (pool = p));
      } catch (e) {
        if (e instanceof Interrupted) return undefined;
        throw e;
      }
      const { input } = started;
      pool = started.pool;
      // Per session: calls, and the span from its first call's start to its last call's end (epoch ms).
      const busy = new Map<string, { host: number; runs: number; start: number; end: number }>();
      await pool.run(
        { mode: 'perf', input, warmup: o.warmup },
        {
          syncStart: true,
          next: () => {
            const now = performance.now();
            if (issued === 0) t0 = now;
            const more = o.iterations !== undefined ? issued < o.iterations : now - t0 < o.duration * 1000;
            return more && !interrupted ? { id: issued++, items: [], attempts: 0 } : undefined;
          },
          onResult: (r) => {
            const t = r.timing!;
            latencies.push(t.ms);
            const key = `${r.host}.${r.session}`;
            const b = busy.get(key) ?? { host: r.host, runs: 0, start: t.start, end: t.end };
            b.runs++;
            b.start = Math.min(b.start, t.start);
            b.end = Math.max(b.end, t.end);
            busy.set(key, b);
            tEnd = performance.now();
          },
          onLost: () => {},
        },
      );
      // A measurement with a worker gone is not one: say so rather than report it.
      if (pool.deaths.length) throw new InternalError(`performance run aborted: ${pool.deaths[0]}`);
      const seconds = (tEnd - t0) / 1000;
      const runs = latencies.length;
      const samples = runs * input.batch;
      const rate = (b: { runs: number; start: number; end: number }) => (b.end > b.start ? (b.runs * input.batch * 1000) / (b.end - b.start) : 0);
      const perProcess = pool.hosts.map((h) => {
        const mine = [...busy.values()].filter((b) => b.host === h.index);
        const n = mine.reduce((a, b) => a + b.runs, 0);
        return { process: h.index, pid: h.link.pid, runs: n, samples: n * input.batch, throughput: mine.reduce((a, b) => a + rate(b), 0) };
      });
      const sessions = s.processes * s.instances;
      const fewest = busy.size < sessions ? 0 : Math.min(...[...busy.values()].map((b) => b.runs));
      // Per-session rates summed are a steady-state figure only when every session ran several calls.
      const steady = fewest >= STEADY_RUNS;
      const throughput = steady ? perProcess.reduce((a, p) => a + p.throughput, 0) : seconds > 0 ? samples / seconds : 0;
      const note = steady
        ? undefined
        : `${runs} measured run(s) over ${sessions} session(s)${busy.size < sessions ? ` (${sessions - busy.size} ran none)` : ''}: too few for a steady rate (wanted >= ${STEADY_RUNS} per session), so throughput is samples / wall time; use --duration or --iterations >= ${STEADY_RUNS * sessions}`;
      return {
        mode: 'performance',
        model: s.model.onnx,
        config: {
          processes: s.processes,
          instances: s.instances,
          batch: input.batch,
          threads: s.threads,
          input: { name: input.name, dtype: input.dtype, shape: [input.batch, input.c, input.h, input.w] },
          warmup: o.warmup,
          ...(o.iterations !== undefined ? { iterations: o.iterations } : { duration: o.duration }),
          cores: cores(),
        },
        interrupted,
        runs,
        samples,
        seconds,
        throughput,
        runsPerSecond: throughput / input.batch,
        ...(note ? { note } : {}),
        latencyMs: latencyStats(latencies),
        perProcess,
        memory: pool.memory(),
      };
    },
  );
}

const f2 = (x: number) => x.toFixed(2);

export function formatPerf(r: PerfReport): string {
  const c = r.config;
  const l = r.latencyMs;
  const stop = c.iterations !== undefined ? `${c.iterations} iterations` : `${c.duration} s`;
  return [
    `=== rebake run: performance${r.interrupted ? ' (interrupted)' : ''} ===`,
    `model        ${r.model}`,
    `input        ${c.input.name} ${c.input.dtype} [${c.input.shape.join(', ')}] (synthetic)`,
    `config       -p ${c.processes} -i ${c.instances} -b ${c.batch} --threads ${c.threads} (${c.processes * c.instances} sessions, ${c.cores} cores), warm-up ${c.warmup} per session, ${stop}`,
    `measured     ${r.runs} runs, ${r.samples} samples in ${f2(r.seconds)} s wall`,
    `throughput   ${f2(r.throughput)} samples/s (${f2(r.runsPerSecond)} runs/s; ${r.note ? 'samples / wall time' : 'sum over sessions of samples / busy time'})`,
    ...(r.note ? [`note         ${r.note}`] : []),
    `latency ms   avg ${f2(l.avg)}  min ${f2(l.min)}  p50 ${f2(l.p50)}  p90 ${f2(l.p90)}  p95 ${f2(l.p95)}  p99 ${f2(l.p99)}  max ${f2(l.max)}  (per run() of ${c.batch})`,
    ...r.perProcess.map((p) => `process ${p.process}    pid ${p.pid}: ${p.runs} runs, ${f2(p.throughput)} samples/s`),
    `peak RSS     ${formatMemory(r.memory)}`,
  ].join('\n');
}
