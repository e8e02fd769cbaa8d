import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../core/tensor.js';
import { buildAndCompare, compare, decodeCopy, firstOutput, inputTensor, opCounts, reparameterize, TestGraph } from '../helpers/repvgg.js';

/** conv -> Pad(0) -> Identity -> Dropout -> Cast(float) -> Relu, beside kept look-alikes: real padding, a real cast. */
function chain(): TestGraph {
  const t = new TestGraph(['N', 3, 6, 6]);
  const c = t.conv('x', { out: 4 });
  const zeroPads = t.constant([8], [0, 0, 0, 0, 0, 0, 0, 0], DataType.INT64);
  const realPads = t.constant([8], [0, 0, 1, 1, 0, 0, 1, 1], DataType.INT64);
  const nop = t.op('Cast', [t.op('Dropout', [t.op('Identity', [t.op('Pad', [c, zeroPads])])])], { to: DataType.FLOAT });
  const relu = t.op('Relu', [nop]);
  const padded = t.op('Pad', [c, realPads]);
  const roundTrip = t.op('Cast', [t.op('Cast', [c], { to: DataType.FLOAT16 })], { to: DataType.FLOAT });
  t.output(relu, padded, roundTrip);
  return t;
}

describe('eliminate-nop-ops', () => {
  it('removes zero Pad, Identity, inference Dropout and same-type Cast; keeps real padding and real casts', async () => {
    const t = chain();
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 3, 6, 6], 3));
    expect(reports['eliminate-nop-ops'].changes).toEqual(['removed 1 Pad, 1 Identity, 1 Dropout, 1 Cast']);
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1, Pad: 1, Cast: 2 });
    expect(cmp.diff).toBe(0);
  });

  it('keeps a no-op whose output is a graph output, and a Dropout whose mask is read', async () => {
    const t = new TestGraph(['N', 3, 6, 6]);
    const id = t.op('Identity', ['x']);
    const drop = t.g.addNode({ opType: 'Dropout', inputs: ['x'], outputs: ['d', 'mask'] });
    t.output(id, drop.outputs[0], 'mask');
    const m = decodeCopy(t.bytes());
    const report = (await reparameterize(m, ['eliminate-nop-ops']))['eliminate-nop-ops'];
    expect(report.changes).toEqual([]);
    expect(report.skipped).toEqual([`Identity ${m.graph.producer(id)!.name}: its output ${id} is a graph output`, `Dropout ${drop.name}: its mask output is read`]);
  });

  it('takes the Pad out of every SE block of the PyTorch export, outputs unchanged', async () => {
    const train = new Uint8Array(fs.readFileSync('test/fixtures/repvgg/grouped_se_folded_dynamic_op13.onnx'));
    expect(opCounts(decodeCopy(train)).Pad).toBe(5);
    const deploy = decodeCopy(train);
    const reports = await reparameterize(deploy);
    expect(reports['eliminate-nop-ops'].changes).toEqual(['removed 5 Pad']);
    expect(opCounts(deploy).Pad ?? 0).toBe(0);
    const feeds = { input: inputTensor([2, 3, 64, 64], 9) };
    const cmp = compare(await firstOutput(deploy, feeds), await firstOutput(train, feeds));
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
