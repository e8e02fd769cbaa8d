/**
 * File output that never leaves a partial file: write to a temp name in the same folder, then rename, so a
 * crash or an interrupt leaves either the old file or the whole new one. (No fsync: that guards against power
 * loss, not process failure, and costs more than the write itself for a 500 MB model.)
 * Unwritable destinations become a RebakeError naming the path (exit 2), not a stack trace; so do unreadable
 * inputs (readInput), in the same words.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError, type SourceLocation } from './errors.js';

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

/** Our words for a file system error (ENOENT excepted: "no such file" or "folder does not exist" by context). */
function errnoWords(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a parent path is a file, not a folder';
    case 'EISDIR':
      return 'is a folder';
    case 'EEXIST':
      return 'exists and is a file, not a folder';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return err.message;
  }
}

export function unwritable(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (!err.code) return err;
  return new RebakeError('OUTPUT_UNWRITABLE', `cannot write: ${err.code === 'ENOENT' ? 'folder does not exist' : errnoWords(err)}`, { file });
}

/** What a file the user named should be, for readInput's errors. */
export interface InputSpec {
  /** Error code prefix: failures are `<code>_MISSING` (also: a parent path is a file), `<code>_NOT_FILE` (a folder)
   * or `<code>_UNREADABLE` (permissions and the rest). */
  code: string;
  /** e.g. 'an ONNX model': messages end "(expected an ONNX model)". */
  what: string;
  /** Where the user named the file (a config key): the error points there and names the file. */
  at?: SourceLocation;
}

/** A failed read of an input file as a located RebakeError; anything but a file system error is rethrown as is. */
export function unreadable(file: string, spec: InputSpec, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (!err.code) return err;
  const [kind, why] =
    err.code === 'ENOENT' ? ['MISSING', 'no such file'] :
    err.code === 'ENOTDIR' ? ['MISSING', errnoWords(err)] :
    err.code === 'EISDIR' ? ['NOT_FILE', errnoWords(err)] : ['UNREADABLE', `cannot read: ${errnoWords(err)}`];
  const detail = spec.at ? `${why}: ${file} (expected ${spec.what})` : `${why} (expected ${spec.what})`;
  return new RebakeError(`${spec.code}_${kind}`, detail, spec.at ?? { file });
}

/** Read a whole input file; a failure is a located RebakeError (see InputSpec). */
export function readInput(file: string, spec: InputSpec): Buffer {
  // A fifo or a device would block the read forever (or never end): only regular files are inputs.
  const st = statIfAny(file);
  if (st && !st.isFile() && !st.isDirectory()) {
    const why = 'is a device, fifo or socket, not a regular file';
    throw new RebakeError(`${spec.code}_NOT_FILE`, spec.at ? `${why}: ${file} (expected ${spec.what})` : `${why} (expected ${spec.what})`, spec.at ?? { file });
  }
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw unreadable(file, spec, e);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A text input, which must be UTF-8: a path in it spelled in another encoding would silently name nothing. */
export function readInputText(file: string, spec: InputSpec): string {
  const bytes = readInput(file, spec);
  try {
    return UTF8.decode(bytes);
  } catch {
    const text = bytes.toString('utf8');
    const bad = text.indexOf('\uFFFD');
    const line = text.slice(0, bad).split('\n').length;
    throw new RebakeError(`${spec.code}_ENCODING`, `not valid UTF-8 text (expected ${spec.what}, as UTF-8)`, { file, line });
  }
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

/**
 * Before the work starts: `target` can be written. An existing target must be of the expected kind (a
 * regular file, not a folder, device or fifo; or a folder); a missing one needs its nearest existing
 * ancestor to be a writable folder (missing folders are created at write time, so a failure before then
 * leaves nothing behind).
 */
export function checkOutputTarget(target: string, kind: 'file' | 'folder', what: string): void {
  const st = statIfAny(target);
  if (st) {
    if (kind === 'file' && st.isDirectory()) throw new RebakeError('OUTPUT_UNWRITABLE', `is a folder; ${what} must be a file path`, { file: target });
    if (kind === 'file' && !st.isFile()) throw new RebakeError('OUTPUT_UNWRITABLE', `is not a regular file (a device, fifo or socket); ${what} must be a file path`, { file: target });
    if (kind === 'folder' && !st.isDirectory()) throw new RebakeError('OUTPUT_NOT_DIR', `is a file; ${what} must be a folder (it will be created if missing)`, { file: target });
    try {
      fs.accessSync(kind === 'file' ? path.dirname(path.resolve(target)) : target, fs.constants.W_OK);
    } catch {
      throw new RebakeError('OUTPUT_UNWRITABLE', 'cannot write: permission denied', { file: target });
    }
    return;
  }
  let cur = path.dirname(path.resolve(target));
  while (!fs.existsSync(cur)) cur = path.dirname(cur);
  if (!fs.statSync(cur).isDirectory()) throw new RebakeError('OUTPUT_UNWRITABLE', `cannot create this ${kind}: ${cur} is a file, not a folder`, { file: target });
  try {
    fs.accessSync(cur, fs.constants.W_OK);
  } catch {
    throw new RebakeError('OUTPUT_UNWRITABLE', `cannot create this ${kind}: ${cur} is not writable`, { file: target });
  }
}

/** stat (lstat with `link`), or undefined when nothing is there (also when a parent is a file). */
export function statIfAny(p: string, link = false): fs.Stats | undefined {
  try {
    return link ? fs.lstatSync(p) : fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}
