/** Passes in tests run the way a build runs them: through the pass manager, which checks the graph after each. */
import type { BuildConfig, VdspParams } from '../../builders/config/types.js';
import type { Model } from '../../builders/ir/model.js';
import { runPasses, type PassRecord } from '../../builders/passes/manager.js';
import type { Pass, PassInputs } from '../../builders/passes/pass.js';

/** A build's inputs for a test: a minimal config (softmax on request) and optional vdsp params. */
export function passInputs(vdsp?: VdspParams, opts: { softmax?: boolean; vdspFile?: string } = {}): PassInputs {
  const config = {
    file: 'test.yaml',
    name: 'test',
    frontend: { type: 'onnx', checkpoint: 'model.onnx', dtype: 'fp32' },
    backend: { type: 'onnxruntime', dtype: 'fp32' },
    graph: opts.softmax ? { extra_ops: { type: 'softmax' } } : {},
    workspace: { path: '/tmp' },
    passes: {},
    locate: (path: string) => ({ file: 'test.yaml', path }),
  } as unknown as BuildConfig;
  return { config, vdsp, vdspFile: opts.vdspFile ?? 'params.json' };
}

/** Run one pass over `model`; its record (changes, skipped, status). */
export async function runPass(pass: Pass, model: Model, inputs: PassInputs = passInputs()): Promise<PassRecord> {
  const [record] = await runPasses(model, [pass], inputs);
  return record;
}
