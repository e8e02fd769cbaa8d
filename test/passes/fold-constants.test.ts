import { describe, expect, it } from 'vitest';
import { type Dim } from '../../builders/ir/graph.js';
import { DataType, toNumbers } from '../../core/tensor.js';
import { buildAndCompare, decodeCopy, inputTensor, opCounts, reparameterize, TestGraph } from '../helpers/repvgg.js';

/** out.view(out.size(0), -1) as torch exports it with a dynamic batch (opset 13 and 11 forms). */
function flattenHead(opset: number, batch: Dim, shapeOf: 'pooled' | 'x' = 'pooled'): TestGraph {
  const t = new TestGraph([batch, 4, 5, 5], opset);
  const pooled = t.op('GlobalAveragePool', [t.conv('x', { out: 6 })]);
  const i64 = DataType.INT64;
  const gathered = t.op('Gather', [t.op('Shape', [shapeOf === 'x' ? 'x' : pooled]), t.constant([], [0], i64)], { axis: 0 });
  const batchDim = opset >= 13 ? t.op('Unsqueeze', [gathered, t.constant([1], [0], i64)]) : t.op('Unsqueeze', [gathered], { axes: [0] });
  const rest = opset >= 13 ? t.constant([1], [-1], i64) : t.op('Unsqueeze', [t.constant([], [-1], i64)], { axes: [0] });
  t.output(t.op('Reshape', [pooled, t.op('Concat', [batchDim, rest], { axis: 0 })]));
  return t;
}

function reshapeShape(m: ReturnType<typeof decodeCopy>): number[] {
  const r = m.graph.nodes.find((n) => n.opType === 'Reshape')!;
  return toNumbers(m.graph.constant(r.inputs[1])!);
}

describe('fold-constants', () => {
  for (const opset of [13, 11]) {
    it(`folds the dynamic-batch flatten (opset ${opset}) to Reshape(x, [0, -1]); batch 1 and 3 still run`, async () => {
      const train = flattenHead(opset, 'batch').bytes();
      for (const batch of [1, 3]) {
        const { deploy, reports, cmp } = await buildAndCompare(train, inputTensor([batch, 4, 5, 5], batch));
        expect(opCounts(deploy)).toEqual({ Conv: 1, GlobalAveragePool: 1, Reshape: 1 });
        expect(reshapeShape(deploy)).toEqual([0, -1]);
        expect(reports['fold-constants'].changes.join('\n')).toMatch(/Reshape .* folded to \[0,-1\]/);
        expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
      }
    });
  }

  it('folds a shape read from another tensor only when that dim is static', async () => {
    const staticBatch = await buildAndCompare(flattenHead(13, 2, 'x').bytes(), inputTensor([2, 4, 5, 5], 1));
    expect(reshapeShape(staticBatch.deploy)).toEqual([2, -1]);
    expect(staticBatch.cmp.diff).toBeLessThanOrEqual(staticBatch.cmp.tol);

    const dynamic = await buildAndCompare(flattenHead(13, 'N', 'x').bytes(), inputTensor([3, 4, 5, 5], 2));
    expect(opCounts(dynamic.deploy).Shape).toBe(1);
    expect(dynamic.reports['fold-constants'].skipped.join('\n')).toMatch(/depends on dims of tensors other than its input/);
    expect(dynamic.cmp.diff).toBeLessThanOrEqual(dynamic.cmp.tol);
  });

  it('turns Constant nodes into initializers and bypasses Identity of constants, but not graph outputs', async () => {
    const t = new TestGraph(['N', 2, 4, 4]);
    const scale = t.constant([1, 2, 1, 1], [2, -3]);
    const shared = t.op('Identity', [scale]);
    const kept = t.op('Identity', [t.constant([1], [5])]);
    t.output(t.op('Mul', [t.op('Mul', ['x', scale]), shared]), kept);
    const m = decodeCopy(t.bytes());
    const report = (await reparameterize(m, ['fold-constants']))['fold-constants'];
    expect(report.changes).toEqual(['2 Constant node(s) -> initializers', '1 Identity node(s) of constants bypassed (readers share the constant)']);
    expect(opCounts(m)).toEqual({ Mul: 2, Identity: 1 });
    const { cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 2, 4, 4], 3));
    expect(cmp.diff).toBe(0);
  });

  it('weights held by Constant nodes (some exporters) are folded and merged like initializers', async () => {
    const t = new TestGraph(['N', 4, 6, 6]);
    const dense = t.conv('x', { out: 4, bias: true });
    const one = t.conv('x', { out: 4, k: 1, pads: [0, 0, 0, 0] });
    t.output(t.op('Relu', [t.add(t.add(t.bn(dense), t.bn(one)), t.bn('x'))]));
    for (const conv of [t.g.producer(dense)!, t.g.producer(one)!]) {
      for (const [i, name] of conv.inputs.slice(1).entries()) {
        const value = t.g.initializers.get(name)!;
        t.g.removeInitializer(name);
        t.g.addNode({ opType: 'Constant', inputs: [], outputs: [name], attrs: { value: { kind: 'tensor', value } } });
        expect(conv.inputs[i + 1]).toBe(name);
      }
    }
    expect(opCounts(t.model).Constant).toBe(3);
    const { deploy, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 4, 6, 6], 4));
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1 });
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
