import { it } from 'vitest';
import { encodeModel, decodeModel } from '../../builders/ir/model.js';
import { PASSES } from '../../builders/passes/index.js';
import { repvggModel } from '../../builders/zoo/repvgg.js';

it('scratch', async () => {
  for (const bnFolded of [false, true]) {
    let t = performance.now();
    const m = repvggModel('B3', { bnFolded, seed: 1 });
    const tgen = performance.now() - t; t = performance.now();
    const bytes = encodeModel(m);
    const tenc = performance.now() - t; t = performance.now();
    const d = decodeModel(bytes, 'x');
    const tdec = performance.now() - t;
    const times: string[] = [];
    for (const p of PASSES.slice(0, 5)) { t = performance.now(); const s = d.graph.signature(); p.run(d, {} as never); d.graph.check(s); times.push(`${p.name} ${(performance.now() - t).toFixed(0)}`); }
    t = performance.now();
    const out = encodeModel(d);
    const tenc2 = performance.now() - t;
    console.log(bnFolded, 'gen', tgen.toFixed(0), 'enc', tenc.toFixed(0), 'dec', tdec.toFixed(0), times.join(', '), 'enc2', tenc2.toFixed(0), out.byteLength);
  }
});
