/**
 * Imports point one way: core <- builders <- runtime <- bin. core imports nothing of ours, builders only
 * core, runtime core and builders, bin anything. A tiny import graph over the sources: every relative
 * import (static, side-effect, dynamic with a literal path, `export ... from`) of every .ts file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LAYERS = ['core', 'builders', 'runtime', 'bin'];

interface Edge {
  from: string;
  to: string;
}

/** Layer of a repository-relative path, or -1 outside the four (node_modules, schemas, package.json...). */
const layerOf = (file: string) => LAYERS.indexOf(file.split('/')[0]);

/** The imports that point up: "from -> to (layer of from imports layer of to)". */
function violations(edges: Edge[]): string[] {
  return edges
    .filter((e) => layerOf(e.from) >= 0 && layerOf(e.to) > layerOf(e.from))
    .map((e) => `${e.from} -> ${e.to} (${e.from.split('/')[0]} imports ${e.to.split('/')[0]})`);
}

const IMPORT = /(?:^|[^\w$.])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w$.])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative import edges of every .ts file under the four layers, as repository-relative paths. */
function importEdges(root = '.'): Edge[] {
  const edges: Edge[] = [];
  for (const layer of LAYERS) {
    for (const rel of fs.readdirSync(path.join(root, layer), { recursive: true, encoding: 'utf8' })) {
      if (!rel.endsWith('.ts')) continue;
      const from = path.posix.join(layer, rel.split(path.sep).join('/'));
      const text = fs.readFileSync(path.join(root, from), 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (!spec.startsWith('.')) continue;
        edges.push({ from, to: path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)) });
      }
    }
  }
  return edges;
}

describe('import direction', () => {
  it('the checker flags imports that point up, and only those (synthetic import list)', () => {
    const edges: Edge[] = [
      { from: 'core/errors.ts', to: 'core/fsutil.js' },
      { from: 'builders/build.ts', to: 'core/errors.js' },
      { from: 'runtime/model.ts', to: 'builders/config/types.js' },
      { from: 'bin/cli.ts', to: 'runtime/run.js' },
      { from: 'core/npz.ts', to: 'builders/ir/model.js' },
      { from: 'builders/passes/x.ts', to: 'runtime/session.js' },
      { from: 'runtime/pool.ts', to: 'bin/args.js' },
      { from: 'core/paths.ts', to: 'package.json' },
    ];
    expect(violations(edges)).toEqual([
      'core/npz.ts -> builders/ir/model.js (core imports builders)',
      'builders/passes/x.ts -> runtime/session.js (builders imports runtime)',
      'runtime/pool.ts -> bin/args.js (runtime imports bin)',
    ]);
  });

  it('the scanner sees every import form', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-imports-'));
    try {
      for (const l of LAYERS) fs.mkdirSync(path.join(dir, l));
      fs.mkdirSync(path.join(dir, 'core', 'sub'));
      fs.writeFileSync(path.join(dir, 'core', 'sub', 'a.ts'), [
        "import fs from 'node:fs';",
        "import { x } from '../../builders/x.js';",
        "import type {\n  Y,\n} from '../../runtime/y.js';",
        "import '../../bin/side.js';",
        "export { z } from '../z.js';",
        "const m = await import('../../builders/lazy.js');",
        "// the word import in a comment: 'no'",
      ].join('\n'));
      expect(importEdges(dir)).toEqual([
        { from: 'core/sub/a.ts', to: 'builders/x.js' },
        { from: 'core/sub/a.ts', to: 'runtime/y.js' },
        { from: 'core/sub/a.ts', to: 'bin/side.js' },
        { from: 'core/sub/a.ts', to: 'core/z.js' },
        { from: 'core/sub/a.ts', to: 'builders/lazy.js' },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the sources: no import points up', () => {
    const edges = importEdges();
    // The scan found the tree (a broken scan would find nothing and pass).
    expect(edges).toContainEqual({ from: 'builders/build.ts', to: 'core/errors.js' });
    expect(edges.length).toBeGreaterThan(100);
    expect(violations(edges)).toEqual([]);
  });
});
