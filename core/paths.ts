/** Files shipped with the package (schemas, label lists), found from either the sources or dist/. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'schemas')) || !fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('rebake: cannot find the package folder (schemas/ missing)');
    dir = up;
  }
  return (root = dir);
}

export function packageFile(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}

/**
 * The script to start as a worker thread or process for one of our modules, given its URL as compiled
 * (`new URL('./x.js', import.meta.url)`). From dist/ that is the URL itself. When the caller runs from the
 * TypeScript sources (vitest runs them in-process), Node cannot start a .ts worker, so the worker is the
 * compiled copy in dist/ (`npm test` compiles first).
 */
export function compiledModule(url: URL): URL {
  const file = fileURLToPath(url);
  if (fs.existsSync(file)) return url;
  return pathToFileURL(path.join(packageRoot(), 'dist', path.relative(packageRoot(), file)));
}
