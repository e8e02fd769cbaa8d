import { describe, expect, it } from 'vitest';
import { attrFloat } from '../../builders/ir/graph.js';
import { buildAndCompare, decodeCopy, firstOutput, inputTensor, opCounts, reparameterize, TestGraph, compare } from '../helpers/repvgg.js';

/** conv(no bias) -> BN(eps 1e-2) -> Relu -> conv(bias) -> BN(no epsilon attribute) -> output. */
function twoConvBn(): TestGraph {
  const t = new TestGraph(['N', 4, 9, 9]);
  const a = t.op('Relu', [t.bn(t.conv('x', { out: 6 }), { eps: 1e-2 })]);
  t.output(t.bn(t.conv(a, { out: 5, k: 1, bias: true, stride: 2, pads: [0, 0, 0, 0] }), { eps: null }));
  return t;
}

describe('fuse-bn-into-conv', () => {
  it('folds BN into convs with and without bias; outputs unchanged at batch 1 and 3', async () => {
    const train = twoConvBn().bytes();
    for (const batch of [1, 3]) {
      const { deploy, reports, cmp } = await buildAndCompare(train, inputTensor([batch, 4, 9, 9], batch));
      expect(opCounts(deploy)).toEqual({ Conv: 2, Relu: 1 });
      expect(deploy.graph.nodes.filter((n) => n.opType === 'Conv').every((n) => n.inputs.length === 3)).toBe(true);
      expect(reports['fuse-bn-into-conv'].changes).toHaveLength(2);
      expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
    }
  });

  it('honours epsilon (explicit and the ONNX default): a fold that ignores it fails the tolerance', async () => {
    const train = twoConvBn().bytes();
    const x = inputTensor([2, 4, 9, 9], 7);
    const ref = await firstOutput(train, { x });
    // The mistake, made where the pass reads it: every BN's epsilon taken as 0.
    const wrong = decodeCopy(train);
    for (const n of wrong.graph.nodes) if (n.opType === 'BatchNormalization') n.attrs.epsilon = { kind: 'float', value: 0 };
    expect(wrong.graph.nodes.filter((n) => n.opType === 'BatchNormalization').map((n) => attrFloat(n, 'epsilon', -1))).toEqual([0, 0]);
    await reparameterize(wrong);
    const bad = compare(await firstOutput(wrong, { x }), ref);
    expect(bad.diff).toBeGreaterThan(10 * bad.tol);
  });

  it('leaves weights shared with another conv intact (Identity-shared, as the exporter deduplicates)', async () => {
    const t = new TestGraph(['N', 3, 8, 8]);
    const first = t.conv('x', { out: 4 });
    const w = t.g.producer(first)!.inputs[1];
    const alias = t.op('Identity', [w]);
    const second = t.conv('x', { out: 4, weight: alias });
    t.output(t.bn(first), t.bn(second));
    const { deploy, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 3, 8, 8], 1));
    expect(opCounts(deploy)).toEqual({ Conv: 2 });
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
    // Each conv got its own scaled kernel: the first a copy, then the second (sole reader left) in place.
    expect(new Set(deploy.graph.nodes.map((n) => n.inputs[1])).size).toBe(2);
  });

  it('skips, with the reason, a BN whose conv output is also read elsewhere, and one that does not follow a conv', async () => {
    const t = new TestGraph(['N', 3, 8, 8]);
    const c = t.conv('x', { out: 4 });
    const afterRelu = t.op('Relu', [c]);
    t.output(t.bn(c), t.bn(afterRelu));
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([1, 3, 8, 8], 2));
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1, BatchNormalization: 2 });
    const skipped = reports['fuse-bn-into-conv'].skipped.join('\n');
    expect(skipped).toMatch(/output is also read elsewhere/);
    expect(skipped).toMatch(/comes from Relu .*not a Conv/);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
