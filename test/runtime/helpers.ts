/** Shared by the runner tests: numpy through python3 (numpy only), temp folders, the compiled CLI. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CLI = path.resolve('bin/rebake.js');

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rebake-${tag}-`));
}

/** Run a python3 + numpy script; its stdout is returned, a failure throws with its stderr. */
export function python(script: string, args: string[] = []): string {
  const r = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync('node', [CLI, ...args], { encoding: 'utf8', cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliSpawn(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  return spawn('node', [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Non-empty lines of a text. */
export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}
