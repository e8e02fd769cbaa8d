/**
 * A host: one OS process of `rebake run -p N`. It owns `-i` sessions (threads), asks the coordinator for
 * work, reads and prepares each batch on its main thread while the sessions run the previous ones, and sends
 * the outputs back. It never writes files: the coordinator does, atomically, so killing a host at any moment
 * cannot leave a partial output.
 */
import fs from 'node:fs';
import { RebakeError } from '../builders/errors.js';
import { parentEnd, threadLink, type Link } from './link.js';
import { readNpz } from './npz.js';
import { allocBatch, imageOf, prepareRow, syntheticBatch, type InputData } from './prepare.js';
import type { BadItem, FromHost, FromSession, OutTensor, Plan, RunTiming, ToHost, ToSession } from './protocol.js';

interface Held {
  id: number;
  rows: number[];
  bad: BadItem[];
  data?: InputData;
  dims?: number[];
}

interface Slot {
  link: Link<ToSession, FromSession>;
  busy: boolean;
}

const parent = parentEnd<ToHost, FromHost>();
const slots: Slot[] = [];
const queue: Held[] = [];
const held = new Map<number, Held>();
let plan: Plan | undefined;
let wanted = 0;
let preparing = 0;
let received = 0;
let warmSessions = 0;
let failpoint: { batch: number; claim: string } | undefined;

// The terminal sends Ctrl-C to the whole process group; the coordinator decides what happens to hosts.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
parent.onOrphaned(() => process.exit(1));

function fatal(e: unknown): void {
  if (e instanceof RebakeError) parent.send({ type: 'fatal', code: e.code, message: e.message });
  else parent.send({ type: 'fatal', code: 'INTERNAL', message: (e as Error)?.stack ?? String(e) });
}

/** Keep every session busy with one batch and one more prepared behind it. */
function requestMore(): void {
  const n = 2 * slots.length - held.size - preparing - wanted;
  if (n > 0) {
    wanted += n;
    parent.send({ type: 'want', n });
  }
}

function pump(): void {
  for (const s of slots) {
    if (s.busy || !queue.length) continue;
    const b = queue.shift()!;
    s.busy = true;
    if (b.data) s.link.send({ type: 'run', id: b.id, dims: b.dims, data: b.data, dtype: plan!.input.dtype }, [b.data.buffer as ArrayBuffer]);
    else s.link.send({ type: 'run', id: b.id });
  }
}

function finish(id: number, outputs: OutTensor[], session: number, timing?: RunTiming): void {
  const b = held.get(id)!;
  held.delete(id);
  parent.send({ type: 'result', id, rows: b.rows, outputs, bad: b.bad, session, timing });
}

/**
 * Read and prepare a batch one image per event-loop turn, so that a session finishing meanwhile gets its next
 * batch at once instead of after the whole batch has been read.
 */
async function prepareBatch(id: number, items: { index: number; file: string }[]): Promise<Held> {
  const p = plan!.input;
  const data = allocBatch(p, p.fixedBatch ? p.batch : items.length);
  const rows: number[] = [];
  const bad: BadItem[] = [];
  for (const it of items) {
    await new Promise((r) => setImmediate(r));
    try {
      prepareRow(imageOf(readNpz(it.file), it.file, p), it.file, p, data, rows.length);
      rows.push(it.index);
    } catch (e) {
      if (!(e instanceof RebakeError)) throw e;
      bad.push({ index: it.index, file: it.file, code: e.code, message: e.message });
    }
  }
  const n = p.fixedBatch ? p.batch : rows.length;
  const used = p.fixedBatch ? data : data.subarray(0, rows.length * p.c * p.h * p.w);
  return { id, rows, bad, data: used, dims: [n, p.c, p.h, p.w] };
}

function startSessions(msg: Extract<ToHost, { type: 'init' }>): void {
  let ready = 0;
  for (let i = 0; i < msg.sessions; i++) {
    const link = threadLink<ToSession, FromSession>(new URL('./session.js', import.meta.url));
    const slot: Slot = { link, busy: false };
    slots.push(slot);
    link.onMessage((m) => {
      switch (m.type) {
        case 'ready':
          if (++ready === msg.sessions) parent.send({ type: 'ready', model: m.model });
          break;
        case 'warm':
          // Performance mode asks for work only once every session is warm, so the measurement starts together.
          if (++warmSessions === msg.sessions) requestMore();
          break;
        case 'done':
          slot.busy = false;
          finish(m.id, m.outputs, i, m.timing);
          pump();
          requestMore();
          break;
        case 'fatal':
          parent.send({ type: 'fatal', code: m.code, message: m.message });
          break;
      }
    });
    link.onExit((how) => parent.send({ type: 'fatal', code: 'INTERNAL', message: `session thread ${i} stopped: ${how}` }));
    link.send({ type: 'init', modelPath: msg.modelPath, threads: msg.threads, spin: msg.spin });
  }
}

/**
 * Test hook (REBAKE_FAILPOINT=kill-host:<n>:<file>): the first host to receive its n-th batch SIGKILLs itself
 * while holding work, to exercise the coordinator's recovery; creating <file> makes it happen only once.
 */
function dieIfFirst(claim: string): void {
  try {
    fs.closeSync(fs.openSync(claim, 'wx'));
  } catch {
    return;
  }
  process.kill(process.pid, 'SIGKILL');
}

parent.onMessage((msg) => {
  try {
    switch (msg.type) {
      case 'init': {
        const fp = /^kill-host:(\d+):(.+)$/.exec(process.env.REBAKE_FAILPOINT ?? '');
        if (fp) failpoint = { batch: Number(fp[1]), claim: fp[2] };
        startSessions(msg);
        break;
      }
      case 'plan':
        plan = msg.plan;
        if (plan.mode === 'perf') {
          const p = plan.input;
          for (const s of slots) {
            const data = syntheticBatch(p);
            s.link.send({ type: 'synthetic', dims: [p.batch, p.c, p.h, p.w], dtype: p.dtype, data, warmup: plan.warmup }, [data.buffer as ArrayBuffer]);
          }
        } else requestMore();
        break;
      case 'batch':
        wanted--;
        preparing++;
        if (failpoint && failpoint.batch === ++received) dieIfFirst(failpoint.claim);
        prepareBatch(msg.id, msg.items).then((b) => {
          preparing--;
          held.set(b.id, b);
          if (b.rows.length) queue.push(b);
          else finish(b.id, [], -1);
          pump();
          requestMore();
        }, fatal);
        break;
      case 'ticket':
        wanted--;
        held.set(msg.id, { id: msg.id, rows: [], bad: [] });
        queue.push(held.get(msg.id)!);
        pump();
        requestMore();
        break;
      case 'exit':
        process.exit(0);
    }
  } catch (e) {
    fatal(e);
  }
});
