import { it } from 'vitest';
import { encodeModel, decodeModel } from '../../builders/ir/model.js';
import { PASSES } from '../../builders/passes/index.js';
import { repvggModel } from '../../builders/zoo/repvgg.js';
import { runOrt, maxAbs, maxAbsDiff, floatTensor } from '../helpers/ort.js';

it('scratch', async () => {
  for (const [arch, size] of (process.env.ARCHS ?? 'A0:64,B0:64,D2se:64').split(',').map((s) => s.split(':'))) {
    for (const bnFolded of [false]) {
      const m = repvggModel(arch, { inputSize: Number(size), bnFolded, dynamicBatch: true, seed: 1 });
      const bytes = encodeModel(m);
      const x = floatTensor([2, 3, Number(size), Number(size)], 5);
      const a = (await runOrt(bytes, { input: x })).output.data as Float32Array;
      const d = decodeModel(bytes.slice(), 'x');
      for (const p of PASSES.slice(0, 5)) { const s = d.graph.signature(); p.run(d, {} as never); d.graph.check(s); }
      const b = (await runOrt(d, { input: x })).output.data as Float32Array;
      console.log(process.env.ZG, process.env.ZS, arch, size, 'max', maxAbs(a).toFixed(3), 'rel diff', (maxAbsDiff(a, b)/maxAbs(a)).toExponential(2), 'b0-b1', (maxAbsDiff(a.subarray(0, a.length/2), a.subarray(a.length/2))/maxAbs(a)).toFixed(3));
    }
  }
});
