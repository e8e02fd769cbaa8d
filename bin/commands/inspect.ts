import fs from 'node:fs';
import path from 'node:path';
import { formatLayers, formatStats, modelStats } from '../../builders/inspect.js';
import { loadModel } from '../../builders/ir/model.js';
import type { CommandSpec } from '../args.js';

/** A build prefix (`.../mod`), a build folder, or an .onnx file. */
export function resolveModelPath(arg: string): string {
  if (fs.existsSync(arg) && fs.statSync(arg).isDirectory()) return path.join(arg, 'mod.onnx');
  if (!fs.existsSync(arg) && fs.existsSync(`${arg}.onnx`)) return `${arg}.onnx`;
  return arg;
}

export const command: CommandSpec = {
  name: 'inspect',
  help: `Usage: rebake inspect <model.onnx | build prefix | build folder> [--layers] [--json]

Prints inputs and outputs (dtype, shape), the op histogram, the parameter count and multiply-accumulates
(per Conv/Gemm/MatMul with --layers; batch 1, symbolic dims count as 1). For a build, also the passes run
and where the preprocessing went.

Options:
  --layers   list MACs per layer
  --json     machine-readable output
  -h, --help this help

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack).`,
  options: { json: { type: 'boolean' }, layers: { type: 'boolean' } },
  positionals: [1, 1],
  async run(args) {
    const file = resolveModelPath(args.positionals[0]);
    const stats = modelStats(loadModel(file));
    const manifestFile = path.join(path.dirname(file), path.basename(file, '.onnx') + '.json');
    const manifest = fs.existsSync(manifestFile) ? (JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { passes?: { name: string; status: string; changes: string[]; skipped: string[] }[] }) : undefined;
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify({ file, ...stats, passes: manifest?.passes }, null, 2)}\n`);
      return 0;
    }
    const out = [formatStats(file, stats)];
    if (args.values.layers) out.push(formatLayers(stats));
    for (const p of manifest?.passes ?? []) {
      if (p.status !== 'applied' && !p.skipped.length) continue;
      out.push(`  pass ${p.name}: ${p.status}`);
      for (const c of p.changes.slice(0, 8)) out.push(`    ${c}`);
      if (p.changes.length > 8) out.push(`    ... ${p.changes.length - 8} more`);
      for (const s of p.skipped.slice(0, 8)) out.push(`    skipped: ${s}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  },
};
