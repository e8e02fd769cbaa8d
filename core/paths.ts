/** Files shipped with the package (schemas, label lists), found from either the sources or dist/. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
