/**
 * The compiled CLI as a user runs it (`node bin/rebake.js`, which runs dist/). `npm test` compiles first
 * (`pretest`); a single test file run by hand does not, so a dist/ older than the sources fails loudly here
 * rather than testing yesterday's code.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const CLI = path.resolve('bin/rebake.js');

/** The first source file whose compiled .js under dist/ is missing or older, if any. */
export function staleSource(root = '.'): string | undefined {
  for (const dir of ['core', 'builders', 'runtime', 'bin']) {
    for (const rel of fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!rel.endsWith('.ts')) continue;
      const src = path.join(root, dir, rel);
      const out = path.join(root, 'dist', dir, rel.replace(/\.ts$/, '.js'));
      if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs) return src;
    }
  }
  return undefined;
}

const stale = staleSource();
if (stale) throw new Error(`dist/ is older than ${stale}: run \`npm run build\` first (npm test does it)`);

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
