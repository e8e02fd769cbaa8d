import { it } from 'vitest';
import ort from 'onnxruntime-node';
import fs from 'node:fs';
import { decodeModel, encodeModel } from '../../builders/ir/model.js';
import { PASSES } from '../../builders/passes/index.js';
import { readNpz } from '../../runtime/npz.js';
import { runOrt, maxAbs, maxAbsDiff } from '../helpers/ort.js';

it('scratch', async () => {
  for (const v of ['folded_static_op13','folded_dynamic_op11','bn_kept_static_op13','grouped_se_folded_dynamic_op13','grouped_bn_kept_static_op11']) {
    const bytes = fs.readFileSync(`test/fixtures/repvgg/${v}.onnx`);
    const m = decodeModel(new Uint8Array(bytes), v);
    for (const p of PASSES.slice(0, 5)) {
      const sig = m.graph.signature();
      const r = p.run(m, {} as never);
      m.graph.check(sig);
      console.log(v, p.name, r.changes.length, r.skipped.slice(0, 3));
    }
    const ops: Record<string, number> = {};
    for (const n of m.graph.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    console.log(JSON.stringify(ops));
    const io = readNpz(`test/fixtures/repvgg/${v}.io.npz`);
    const x = io.get('input')!; const y = io.get('output')!;
    const feeds = { input: new ort.Tensor('float32', x.data as Float32Array, x.shape) };
    const a = (await runOrt(bytes, feeds)).output.data as Float32Array;
    const b = (await runOrt(m, feeds)).output.data as Float32Array;
    console.log(v, 'train-vs-npz', maxAbsDiff(a, y.data as Float32Array), 'deploy-vs-train', maxAbsDiff(a, b), 'max', maxAbs(a));
  }
});
