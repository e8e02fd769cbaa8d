/**
 * Compile once before any test: CLI tests spawn `node bin/rebake.js`, which runs dist/. Type errors fail
 * the run in CI; locally (several people editing at once) they are printed and the emitted JS is used.
 */
import { spawnSync } from 'node:child_process';

export default function setup(): void {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { encoding: 'utf8' });
  if (r.status === 0) return;
  const msg = `tsc failed:\n${r.stdout}${r.stderr}`;
  if (process.env.CI) throw new Error(msg);
  process.stderr.write(`warning: ${msg}`);
}
