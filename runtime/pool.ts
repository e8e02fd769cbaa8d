/**
 * The coordinator's side of the workers: `-p` host processes, one shared queue of work units handed out on
 * request (a faster host asks more often, so it takes more), and the recovery rule for a host that dies:
 * its units go back to the front of the queue once, to be run elsewhere; a unit that was already retried,
 * or that no live host is left to run, is reported lost.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InternalError, RebakeError } from '../core/errors.js';
import { peakRssBytes, processLink, type Link } from './link.js';
import type { BadItem, FromHost, ModelInfo, OutTensor, Plan, RunTiming, ToHost, WorkItem } from './protocol.js';

/** The run was ended while the model was still loading. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export interface Unit {
  id: number;
  /** Datalist items; empty for a performance-mode ticket. */
  items: WorkItem[];
  attempts: number;
}

export interface UnitResult {
  unit: Unit;
  host: number;
  /** The session (thread) of that host that ran it; -1 when nothing ran (every input bad). */
  session: number;
  rows: number[];
  outputs: OutTensor[];
  bad: BadItem[];
  timing?: RunTiming;
}

export interface PoolOptions {
  modelPath: string;
  processes: number;
  instances: number;
  threads: number;
  /** Let ORT pool threads busy-wait (good only when the cores are not shared). */
  spin: boolean;
  warn(line: string): void;
}

export interface WorkSource {
  /** The next unit, or undefined when there is no more (performance mode makes them on demand). */
  next(): Unit | undefined;
  /** Hand out nothing until every host is warm and asking, so a measurement starts on all hosts at once. */
  syncStart: boolean;
  onResult(r: UnitResult): void;
  onLost(unit: Unit, why: string): void;
}

interface HostState {
  index: number;
  link: Link<ToHost, FromHost>;
  alive: boolean;
  ready: boolean;
  want: number;
  inflight: Map<number, Unit>;
  peakRssBytes: number;
  /** It answered `exit`: its peak RSS is final. */
  gone: boolean;
}

/** How long finish() waits for every host's last word (its final peak RSS) before the run returns anyway. */
const BYE_TIMEOUT_MS = 2000;

/** Peak resident memory of every process of a run: what a deployment has to provide. */
export interface MemoryReport {
  coordinatorPeakRssBytes: number;
  processes: { process: number; pid: number; peakRssBytes: number }[];
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function formatMemory(m: MemoryReport): string {
  return [`coordinator ${mib(m.coordinatorPeakRssBytes)}`, ...m.processes.map((p) => `process ${p.process} (pid ${p.pid}) ${mib(p.peakRssBytes)}`)].join(', ');
}

/** Host temp folders not removed yet: removed when this process exits, if it ends before its hosts do (Ctrl-C). */
const hostTempFolders = new Set<string>();
process.once('exit', () => [...hostTempFolders].forEach(removeHostTempFolder));

function hostTempFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-run-'));
  hostTempFolders.add(dir);
  return dir;
}

function removeHostTempFolder(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  hostTempFolders.delete(dir);
}

export class Pool {
  readonly hosts: HostState[] = [];
  /** Why each host that died unexpectedly died. */
  readonly deaths: string[] = [];
  private model?: ModelInfo;
  private plan?: Plan;
  private source?: WorkSource;
  private retry: Unit[] = [];
  private exhausted = false;
  private waitForAll = false;
  private stopping = false;
  private settle?: { resolve: () => void; reject: (e: Error) => void };
  private startup?: { resolve: (m: ModelInfo) => void; reject: (e: Error) => void };

  constructor(private readonly opts: PoolOptions) {}

  /** Start the hosts; resolves with the model's I/O once the first host has loaded it. */
  start(): Promise<ModelInfo> {
    return new Promise((resolve, reject) => {
      this.startup = { resolve, reject };
      for (let i = 0; i < this.opts.processes; i++) this.spawn(i);
    });
  }

  /** Run every unit of `source`; resolves when all are done or lost. */
  run(plan: Plan, source: WorkSource): Promise<void> {
    this.plan = plan;
    this.source = source;
    this.waitForAll = source.syncStart;
    for (const h of this.hosts) if (h.ready && h.alive) h.link.send({ type: 'plan', plan });
    return new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
      this.dispatch();
    });
  }

  /** Kill every host now, whatever it is doing (Ctrl-C, a fatal error). */
  stop(): void {
    this.stopping = true;
    for (const h of this.hosts) if (h.alive) h.link.kill();
  }

  /** End the run early (Ctrl-C, a bad input that stops it): hosts are killed, run() resolves (start() rejects). */
  end(): void {
    this.stop();
    if (!this.model) this.startup?.reject(new Interrupted());
    this.settle?.resolve();
  }

  /**
   * The hosts' temporary folder, removed once they are all gone: onnxruntime leaves a log file in the temp
   * folder of every process that loads it (`mat-debug-<pid>.log`, empty), thousands of them in /tmp after a
   * Kubernetes job array otherwise.
   */
  private tmp?: string;

  private hostEnv(): NodeJS.ProcessEnv {
    this.tmp ??= hostTempFolder();
    return { ...process.env, TMPDIR: this.tmp };
  }

  private removeTmpWhenAllExited(): void {
    if (this.tmp && this.hosts.every((h) => !h.alive)) removeHostTempFolder(this.tmp);
  }

  private spawn(index: number): void {
    const link = processLink<ToHost, FromHost>(new URL('./host.js', import.meta.url), this.hostEnv());
    const h: HostState = { index, link, alive: true, ready: false, want: 0, inflight: new Map(), peakRssBytes: 0, gone: false };
    this.hosts.push(h);
    link.onMessage((m) => this.onMessage(h, m));
    link.onExit((how) => this.onExit(h, how));
    link.send({ type: 'init', modelPath: this.opts.modelPath, sessions: this.opts.instances, threads: this.opts.threads, spin: this.opts.spin });
  }

  /** The peak RSS of this process and of each host that answered (a host reports with each answer and when it leaves). */
  memory(): MemoryReport {
    const answered = this.hosts.filter((h) => h.peakRssBytes > 0);
    return { coordinatorPeakRssBytes: peakRssBytes(), processes: answered.map((h) => ({ process: h.index, pid: h.link.pid, peakRssBytes: h.peakRssBytes })) };
  }

  private onMessage(h: HostState, m: FromHost): void {
    if (m.type === 'ready' || m.type === 'result' || m.type === 'bye') h.peakRssBytes = Math.max(h.peakRssBytes, m.peakRssBytes);
    switch (m.type) {
      case 'bye':
        h.gone = true;
        this.settleWhenAllGone();
        break;
      case 'ready':
        h.ready = true;
        if (!this.model) {
          this.model = m.model;
          this.startup?.resolve(m.model);
        }
        if (this.plan) h.link.send({ type: 'plan', plan: this.plan });
        break;
      case 'want':
        h.want += m.n;
        this.dispatch();
        break;
      case 'result': {
        const unit = h.inflight.get(m.id);
        if (!unit) throw new InternalError(`host ${h.index} returned unit ${m.id} it does not hold`);
        h.inflight.delete(m.id);
        try {
          this.source!.onResult({ unit, host: h.index, session: m.session, rows: m.rows, outputs: m.outputs, bad: m.bad, timing: m.timing });
        } catch (e) {
          this.fail(e as Error);
          return;
        }
        this.dispatch();
        break;
      }
      case 'fatal': {
        const err = m.code === 'INTERNAL' ? new InternalError(`worker process ${h.index}: ${m.message}`) : new RebakeError(m.code, m.message, { file: this.opts.modelPath });
        this.fail(err);
        break;
      }
    }
  }

  private onExit(h: HostState, how: string): void {
    h.alive = false;
    this.removeTmpWhenAllExited();
    if (this.stopping) {
      this.settleWhenAllGone();
      return;
    }
    const live = this.hosts.filter((x) => x.alive);
    if (!h.ready && !this.model && !live.length) {
      this.fail(new InternalError(`every worker process died while loading the model (last: ${how})`));
      return;
    }
    const why = `worker process ${h.index} (pid ${h.link.pid}) died: ${how}`;
    this.deaths.push(why);
    let retried = 0;
    for (const unit of h.inflight.values()) {
      if (unit.attempts < 1 && live.length) {
        unit.attempts++;
        this.retry.push(unit);
        retried++;
      } else this.source?.onLost(unit, why);
    }
    if (this.source) this.opts.warn(`${why}; ${retried} of its ${h.inflight.size} unfinished batch(es) will be retried on the ${live.length} other worker process(es)`);
    h.inflight.clear();
    if (!live.length) {
      this.retry = [];
      if (this.source) this.finish();
      else this.fail(new InternalError(why));
      return;
    }
    this.dispatch();
  }

  private fail(e: Error): void {
    this.stop();
    if (this.startup && !this.model) this.startup.reject(e);
    this.settle?.reject(e);
  }

  /** Every unit is done: hosts exit on their own; run() resolves once each has said its last word (its peak RSS). */
  private finish(): void {
    this.stopping = true;
    for (const h of this.hosts) if (h.alive) h.link.send({ type: 'exit' });
    setTimeout(() => this.settle?.resolve(), BYE_TIMEOUT_MS).unref();
    this.settleWhenAllGone();
  }

  private settleWhenAllGone(): void {
    if (this.hosts.every((h) => h.gone || !h.alive)) this.settle?.resolve();
  }

  private nextUnit(): Unit | undefined {
    if (this.retry.length) return this.retry.shift();
    if (this.exhausted) return undefined;
    const u = this.source!.next();
    if (!u) this.exhausted = true;
    return u;
  }

  private dispatch(): void {
    if (!this.source || this.stopping) return;
    const live = this.hosts.filter((h) => h.alive);
    if (this.waitForAll && live.some((h) => h.want === 0 && h.inflight.size === 0)) return;
    this.waitForAll = false;
    // Round-robin over the hosts that asked, one unit at a time, so no host hoards the queue.
    let gave = true;
    while (gave) {
      gave = false;
      for (const h of live) {
        if (h.want === 0) continue;
        const unit = this.nextUnit();
        if (!unit) break;
        h.want--;
        h.inflight.set(unit.id, unit);
        h.link.send(unit.items.length ? { type: 'batch', id: unit.id, items: unit.items } : { type: 'ticket', id: unit.id });
        gave = true;
      }
    }
    if (this.exhausted && !this.retry.length && live.every((h) => h.inflight.size === 0)) this.finish();
  }
}
