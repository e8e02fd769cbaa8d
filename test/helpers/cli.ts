/** The compiled CLI as a user runs it (`node bin/rebake.js`, which runs dist/: see ./dist.ts). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import './dist.js';

export const CLI = path.resolve('bin/rebake.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
}

const envOf = (opts: CliOptions) => ({ ...process.env, ...opts.env });

export function cli(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: opts.cwd, env: envOf(opts) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Without blocking the test process, so cases can run side by side. */
export function cliAsync(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: envOf(opts), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A running CLI in its own process group (the fault tests signal and kill it). */
export function cliSpawn(args: string[], opts: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: envOf(opts), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}
