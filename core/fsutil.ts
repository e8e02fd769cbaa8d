/**
 * File output that never leaves a partial file: write to a temp name in the same folder, then rename, so a
 * crash or an interrupt leaves either the old file or the whole new one. (No fsync: that guards against power
 * loss, not process failure, and costs more than the write itself for a 500 MB model.)
 * Unwritable destinations become a RebakeError naming the path (exit 2), not a stack trace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError } from './errors.js';

let counter = 0;

export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${counter++}`);
}

export function writeFileAtomic(file: string, data: Uint8Array | string | Uint8Array[]): void {
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    // One writev for all chunks (an npz is seven small pieces and the data: one system call, not seven).
    let rest = (Array.isArray(data) ? data : [data]).map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
    while (rest.length) {
      let n = fs.writevSync(fd, rest);
      while (rest.length && n >= rest[0].byteLength) n -= rest.shift()!.byteLength;
      if (n > 0) rest[0] = rest[0].subarray(n);
    }
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw unwritable(file, e);
  }
}

export function unwritable(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (!err.code) return err;
  const why =
    err.code === 'ENOENT' ? 'folder does not exist' :
    err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS' ? 'permission denied' :
    err.code === 'ENOTDIR' ? 'a parent path is a file, not a folder' :
    err.code === 'EISDIR' ? 'is a folder' :
    err.code === 'EEXIST' ? 'exists and is a file, not a folder' :
    err.code === 'ENOSPC' ? 'no space left on device' : err.message;
  return new RebakeError('OUTPUT_UNWRITABLE', `cannot write: ${why}`, { file });
}

/** mkdir -p that reports an unusable destination as bad input. */
export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    // mkdir names the whole path; name the component that is in the way.
    let blocker = dir;
    while (!fs.existsSync(blocker) && path.dirname(blocker) !== blocker) blocker = path.dirname(blocker);
    throw unwritable(fs.existsSync(blocker) && !fs.statSync(blocker).isDirectory() ? blocker : dir, e);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw unwritable(dir, e);
  }
}
