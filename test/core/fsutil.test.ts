/** readInput: every failed read of a user's file is one located RebakeError, in the same words everywhere. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readInput, readInputText, unreadable } from '../../core/fsutil.js';
import { thrownRebakeError } from '../helpers/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-fsutil-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('readInput', () => {
  const spec = { code: 'THING', what: 'a thing file' };

  it('reads the bytes and the text of a file', () => {
    const file = path.join(dir, 'ok.txt');
    fs.writeFileSync(file, 'héllo\n');
    expect(readInput(file, spec).equals(Buffer.from('héllo\n'))).toBe(true);
    expect(readInputText(file, spec)).toBe('héllo\n');
  });

  it('a missing file: <code>_MISSING at the file', () => {
    const file = path.join(dir, 'nope.txt');
    const e = thrownRebakeError(() => readInput(file, spec));
    expect([e.code, e.message, e.location]).toEqual(['THING_MISSING', `${file}: no such file (expected a thing file)`, { file }]);
  });

  it('a folder: <code>_NOT_FILE, "is a folder"', () => {
    const e = thrownRebakeError(() => readInputText(dir, spec));
    expect([e.code, e.message]).toEqual(['THING_NOT_FILE', `${dir}: is a folder (expected a thing file)`]);
  });

  it('named by a config key: the error points at the key and names the file', () => {
    const at = { file: 'c.yaml', line: 4, column: 15, path: 'frontend.checkpoint' };
    const file = path.join(dir, 'model.onnx');
    const e = thrownRebakeError(() => readInput(file, { ...spec, at }));
    expect([e.code, e.message, e.location]).toEqual(['THING_MISSING', `c.yaml:4:15 frontend.checkpoint: no such file: ${file} (expected a thing file)`, at]);
  });

  it('a parent path that is a file: <code>_MISSING, saying so', () => {
    const file = path.join(dir, 'ok.txt', 'child');
    fs.writeFileSync(path.join(dir, 'ok.txt'), 'x');
    const e = thrownRebakeError(() => readInput(file, spec));
    expect([e.code, e.message]).toEqual(['THING_MISSING', `${file}: a parent path is a file, not a folder (expected a thing file)`]);
  });

  it('permission denied (as root a chmod does not stop a read: the errno is given): <code>_UNREADABLE in our words', () => {
    const denied = Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' });
    expect(unreadable('f', spec, denied).message).toBe('f: cannot read: permission denied (expected a thing file)');
  });

  it('anything but a file system error is passed on untouched (it is ours, not the user\'s)', () => {
    const bug = new TypeError('bug');
    expect(unreadable('f', spec, bug)).toBe(bug);
  });
});
