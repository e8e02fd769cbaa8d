/** Shared by the runner tests: numpy through python3 (numpy only), temp folders, the compiled CLI. */
export { cli, cliSpawn } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rebake-${tag}-`));
}

/** Run a python3 + numpy script; its stdout is returned, a failure throws with its stderr. */
export function python(script: string, args: string[] = []): string {
  const r = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Non-empty lines of a text. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}
