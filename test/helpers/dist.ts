/**
 * Import this (for its effect) in a test that runs compiled code: the CLI, or a worker thread started from
 * the sources (compiledModule runs its dist/ copy). `npm test` compiles first (`pretest`); a single test file
 * run by hand does not, so a dist/ older than the sources fails loudly here rather than testing old code.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The first source file whose compiled .js under dist/ is missing or older, if any. */
function staleSource(root = '.'): string | undefined {
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
