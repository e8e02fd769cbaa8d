import { runBuild } from '../../builders/build.js';
import type { CommandSpec } from '../args.js';
import { stringOption } from '../args.js';

export const command: CommandSpec = {
  name: 'build',
  help: `Usage: rebake build <config.yaml> [--vdsp_params params.json] [--json]

Reads the YAML (frontend.checkpoint, backend.dtype, graph.extra_ops, vdsp_params, workspace.path, passes),
loads the ONNX model, runs every pass (re-parameterization, baked preprocessing, softmax), and writes
<workspace.path>/<name>/mod.onnx and mod.json (the manifest). Relative paths in the YAML resolve against
the YAML file's folder; --vdsp_params resolves against the current folder and overrides the YAML key.

Options:
  --vdsp_params <json>  preprocessing params to bake in (overrides the YAML's vdsp_params)
  --json                print the manifest on stdout
  -h, --help            this help

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack).`,
  options: { vdsp_params: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [1, 1],
  async run(args) {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const res = await runBuild(args.positionals[0], { vdspParams: stringOption(args, 'vdsp_params'), notice: (l) => log(`notice: ${l}`), progress: log });
    const m = res.manifest;
    if (args.values.json) process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
    log(`built ${res.modelPath} in ${m.build_seconds.toFixed(2)} s: params ${(m.params_before / 1e6).toFixed(2)} M -> ${(m.params_after / 1e6).toFixed(2)} M, MACs ${(m.macs_before / 1e9).toFixed(3)} G -> ${(m.macs_after / 1e9).toFixed(3)} G`);
    return 0;
  },
};
