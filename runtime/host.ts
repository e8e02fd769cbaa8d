/**
 * A host: one OS process of `rebake run -p N`. It owns `-i` sessions (threads), asks the coordinator for work
 * so that each session holds one unit running and one waiting (in the session's own queue: it starts the next
 * unit the moment run() returns, without waiting for a message from here), and relays their outputs back. It never writes files: the coordinator does, atomically, so killing a host at any moment
 * cannot leave a partial output.
 */
import fs from 'node:fs';
import { inlineLink, parentEnd, peakRssBytes, threadLink, type Link } from './link.js';
import type { FromHost, FromSession, ToHost, ToSession, WorkItem } from './protocol.js';

interface Slot {
  link: Link<ToSession, FromSession>;
  /** Units handed to the session and not yet done. */
  held: number;
}

/** Units a session holds at once: the one running and the one it starts next. */
const HELD_PER_SESSION = 2;

const parent = parentEnd<ToHost, FromHost>();
const slots: Slot[] = [];
/** Units received and not yet handed to a session. */
const queue: { id: number; items?: WorkItem[] }[] = [];
let held = 0;
let wanted = 0;
let received = 0;
let failpoint: { batch: number; claim: string } | undefined;

// The terminal sends Ctrl-C to the whole process group; the coordinator decides what happens to hosts.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
parent.onOrphaned(() => process.exit(1));

function requestMore(): void {
  const n = HELD_PER_SESSION * slots.length - held - queue.length - wanted;
  if (n > 0) {
    wanted += n;
    parent.send({ type: 'want', n });
  }
}

function pump(): void {
  // Least-loaded session first, so an idle session never waits behind a full one.
  while (queue.length) {
    const s = slots.reduce((a, b) => (b.held < a.held ? b : a));
    if (s.held >= HELD_PER_SESSION) return;
    s.held++;
    held++;
    s.link.send({ type: 'run', ...queue.shift()! });
  }
}

async function startSessions(msg: Extract<ToHost, { type: 'init' }>): Promise<void> {
  // One session runs on this thread (it only blocks the relaying between runs); several get a thread each, and
  // this thread then never loads onnxruntime. Nothing else comes from the coordinator before 'ready'.
  const inline = msg.sessions === 1 ? (await import('./session.js')).serveSession : undefined;
  let ready = 0;
  let warm = 0;
  for (let i = 0; i < msg.sessions; i++) {
    const link = inline ? inlineLink<ToSession, FromSession>(inline) : threadLink<ToSession, FromSession>(new URL('./session-thread.js', import.meta.url));
    const slot: Slot = { link, held: 0 };
    slots.push(slot);
    link.onMessage((m) => {
      switch (m.type) {
        case 'ready':
          if (++ready === msg.sessions) parent.send({ type: 'ready', model: m.model, peakRssBytes: peakRssBytes() });
          break;
        case 'warm':
          // Ask for work once every session is warm, so a performance measurement starts on all of them together.
          if (++warm === msg.sessions) requestMore();
          break;
        case 'done':
          slot.held--;
          held--;
          parent.send({ type: 'result', id: m.id, rows: m.rows, outputs: m.outputs, bad: m.bad, session: i, timing: m.timing, peakRssBytes: peakRssBytes() });
          pump();
          requestMore();
          break;
        case 'fatal':
          parent.send(m);
          break;
      }
    });
    link.onExit((how) => parent.send({ type: 'fatal', code: 'INTERNAL', message: `session thread ${i} stopped: ${how}` }));
    link.send({ type: 'init', modelPath: msg.modelPath, threads: msg.threads, spin: msg.spin });
  }
}

/**
 * Fault injection, a supported hook (README, "Fault injection"): with REBAKE_FAILPOINT=kill-host:<n>:<file>
 * the first host to receive its n-th unit SIGKILLs itself while holding work, so that the coordinator's
 * recovery can be exercised from outside (tests, a user's own chaos checks); creating <file> (exclusive
 * create) makes it happen once per file, across hosts and runs.
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
  switch (msg.type) {
    case 'init': {
      const fp = /^kill-host:(\d+):(.+)$/.exec(process.env.REBAKE_FAILPOINT ?? '');
      if (fp) failpoint = { batch: Number(fp[1]), claim: fp[2] };
      void startSessions(msg);
      break;
    }
    case 'plan':
      for (const s of slots) s.link.send({ type: 'plan', plan: msg.plan });
      break;
    case 'batch':
    case 'ticket':
      wanted--;
      queue.push(msg.type === 'batch' ? { id: msg.id, items: msg.items } : { id: msg.id });
      if (failpoint && failpoint.batch === ++received) dieIfFirst(failpoint.claim);
      pump();
      requestMore();
      break;
    case 'exit':
      parent.sendThen({ type: 'bye', peakRssBytes: peakRssBytes() }, () => process.exit(0));
  }
});
