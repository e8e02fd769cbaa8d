/**
 * A message channel to a worker that is either a worker thread or a child process, and the matching
 * `parentEnd()` for code running inside one. The runner uses processes for hosts (a blocked native run()
 * can only be stopped at once by killing its process) and threads for sessions; nothing above this file
 * depends on which is which.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

export interface Link<In, Out> {
  /** The OS process the worker runs in (for a thread: ours). */
  readonly pid: number;
  send(msg: In, transfer?: ArrayBuffer[]): void;
  onMessage(cb: (msg: Out) => void): void;
  /** Called once when the worker is gone; `how` is an exit code or a signal name. */
  onExit(cb: (how: string) => void): void;
  /** Stop now, whatever it is doing. */
  kill(): void;
}

export function processLink<In, Out>(script: URL, env: NodeJS.ProcessEnv = process.env): Link<In, Out> {
  const child = fork(fileURLToPath(script), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  return {
    pid: child.pid ?? -1,
    send: (msg) => {
      // A child killed a moment ago can still look connected: the write then fails (EPIPE), and its 'exit'
      // event, not this, reports the death.
      if (child.connected) child.send(msg as object, () => {});
    },
    onMessage: (cb) => void child.on('message', (m) => cb(m as Out)),
    onExit: (cb) => void child.once('exit', (code, signal) => cb(signal ?? `exit code ${code}`)),
    kill: () => void child.kill('SIGKILL'),
  };
}

/**
 * A worker served on this very thread: messages are handed over by reference on the microtask queue (no copy,
 * nothing to transfer). It lives and dies with the thread, so it never exits on its own and cannot be killed
 * apart from it.
 */
export function inlineLink<In, Out>(serve: (end: ParentEnd<In, Out>) => void): Link<In, Out> {
  const toWorker: ((msg: In) => void)[] = [];
  const toUs: ((msg: Out) => void)[] = [];
  serve({
    send: (msg) => queueMicrotask(() => toUs.forEach((cb) => cb(msg))),
    sendThen: (msg, then) => {
      queueMicrotask(() => toUs.forEach((cb) => cb(msg)));
      queueMicrotask(then);
    },
    onMessage: (cb) => void toWorker.push(cb),
    onOrphaned: () => {},
  });
  return {
    pid: process.pid,
    send: (msg) => queueMicrotask(() => toWorker.forEach((cb) => cb(msg))),
    onMessage: (cb) => void toUs.push(cb),
    onExit: () => {},
    kill: () => process.exit(1),
  };
}

export function threadLink<In, Out>(script: URL): Link<In, Out> {
  const w = new Worker(script);
  return {
    pid: process.pid,
    send: (msg, transfer) => w.postMessage(msg, transfer),
    onMessage: (cb) => void w.on('message', (m) => cb(m as Out)),
    onExit: (cb) => {
      let reported = false;
      w.once('error', (e) => {
        reported = true;
        cb(`uncaught error: ${e.stack ?? e.message}`);
      });
      w.once('exit', (code) => reported || cb(`exit code ${code}`));
    },
    kill: () => void w.terminate(),
  };
}

/**
 * This process's peak resident set size so far, in bytes. On Linux from VmHWM: getrusage's ru_maxrss carries
 * the spawning process's peak over into a child (exec keeps the larger one), which would report the parent.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

export interface ParentEnd<In, Out> {
  send(msg: Out, transfer?: ArrayBuffer[]): void;
  /** Send, then call `then` once the message has left (before exiting: a pending message dies with the process). */
  sendThen(msg: Out, then: () => void): void;
  onMessage(cb: (msg: In) => void): void;
  /** The parent went away (its process died): there is nobody left to work for. */
  onOrphaned(cb: () => void): void;
}

/** The worker side of a Link, whichever kind of worker this is. */
export function parentEnd<In, Out>(): ParentEnd<In, Out> {
  if (!isMainThread && parentPort) {
    const port = parentPort;
    return {
      send: (msg, transfer) => port.postMessage(msg, transfer),
      sendThen: (msg, then) => {
        port.postMessage(msg);
        then();
      },
      onMessage: (cb) => void port.on('message', cb),
      onOrphaned: (cb) => void port.once('close', cb),
    };
  }
  if (!process.send) throw new Error('not started as a rebake worker (no IPC channel)');
  return {
    send: (msg) => {
      // As in processLink: a parent gone a moment ago fails the write; the 'disconnect' event reports it.
      if (process.connected) process.send!(msg as object, undefined, undefined, () => {});
    },
    sendThen: (msg, then) => {
      if (process.connected) process.send!(msg as object, undefined, undefined, () => then());
      else then();
    },
    onMessage: (cb) => void process.on('message', (m) => cb(m as In)),
    onOrphaned: (cb) => void process.once('disconnect', cb),
  };
}
