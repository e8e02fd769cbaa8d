/** What both run modes share: the worker layout, starting the pool, and turning the model's I/O into a plan. */
import os from 'node:os';
import type { VdspParams } from '../builders/config/types.js';
import { planInput, type ResolvedModel } from './model.js';
import { Pool } from './pool.js';
import type { InputPlan, ModelInfo } from './protocol.js';

export interface RunSettings {
  model: ResolvedModel;
  processes: number;
  instances: number;
  /** Intra-op threads per session. */
  threads: number;
  batch: number;
  shape?: number[];
  vdsp?: VdspParams;
  vdspFile?: string;
  warn(line: string): void;
}

export function cores(): number {
  return os.availableParallelism();
}

/** The default: the cores shared out over every session, at least one thread each. */
export function defaultThreads(processes: number, instances: number): number {
  return Math.max(1, Math.floor(cores() / (processes * instances)));
}

export interface Started {
  pool: Pool;
  info: ModelInfo;
  input: InputPlan;
}

/** `onPool` gets the pool before the model has loaded, so Ctrl-C can end it during start-up too. */
export async function startPool(s: RunSettings, onPool: (p: Pool) => void): Promise<Started> {
  const pool = new Pool({
    modelPath: s.model.onnx,
    processes: s.processes,
    instances: s.instances,
    threads: s.threads,
    spin: s.processes * s.instances * s.threads <= cores(),
    warn: s.warn,
  });
  onPool(pool);
  try {
    const info = await pool.start();
    const input = planInput(info, s.model.onnx, { batch: s.batch, shape: s.shape, vdsp: s.vdsp, vdspFile: s.vdspFile, recorded: s.model.manifestVdsp, warn: s.warn });
    return { pool, info, input };
  } catch (e) {
    pool.stop();
    throw e;
  }
}

/** Run `body` with Ctrl-C / SIGTERM routed to `onStop` (a second Ctrl-C exits at once). */
export async function withInterrupt<T>(onStop: () => void, body: () => Promise<T>): Promise<T> {
  let stops = 0;
  const handler = (): void => {
    if (++stops > 1) process.exit(130);
    onStop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await body();
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
