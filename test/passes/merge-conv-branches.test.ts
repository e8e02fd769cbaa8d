import { describe, expect, it } from 'vitest';
import { attrInts, Graph, type Node } from '../../builders/ir/graph.js';
import { encodeModel, type Model } from '../../builders/ir/model.js';
import { buildAndCompare, compare, decodeCopy, firstOutput, inputTensor, opCounts, reparameterize, TestGraph } from '../helpers/repvgg.js';

const NO_PAD = [0, 0, 0, 0];

/** A private copy of a graph with its node table in another order (files need not list nodes topologically). */
function reordered(bytes: Uint8Array, order: (nodes: Node[]) => Node[]): Model {
  const m = decodeCopy(bytes);
  const g = new Graph();
  g.inputs = m.graph.inputs;
  g.outputs = m.graph.outputs;
  for (const t of m.graph.initializers.values()) g.setInitializer(t);
  for (const n of order(m.graph.nodes)) g.addNode({ ...n });
  return { ...m, graph: g };
}

function mergedConv(m: Model): Node {
  const convs = m.graph.nodes.filter((n) => n.opType === 'Conv');
  expect(convs).toHaveLength(1);
  return convs[0];
}

describe('merge-conv-branches', () => {
  const forms: [string, (t: TestGraph, d: string, o: string, i: string) => string][] = [
    ['(3x3 + 1x1) + identity', (t, d, o, i) => t.add(t.add(d, o), i)],
    ['3x3 + (1x1 + identity)', (t, d, o, i) => t.add(d, t.add(o, i))],
    ['identity + (1x1 + 3x3)', (t, d, o, i) => t.add(i, t.add(o, d))],
    ['Sum(3x3, 1x1, identity)', (t, d, o, i) => t.op('Sum', [d, o, i])],
  ];
  for (const [name, sum] of forms) {
    it(`merges ${name} of a BN-kept block into one 3x3 conv, whatever the node order`, async () => {
      const t = new TestGraph(['N', 8, 7, 7]);
      const d = t.bn(t.conv('x', { out: 8, group: 2 }));
      const o = t.bn(t.conv('x', { out: 8, k: 1, pads: NO_PAD, group: 2 }));
      t.output(t.op('Relu', [sum(t, d, o, t.bn('x'))]));
      const x = inputTensor([2, 8, 7, 7], 11);
      const train = t.bytes();
      const ref = await firstOutput(train, { x });
      for (const order of [(ns: Node[]) => ns, (ns: Node[]) => [...ns].reverse(), (ns: Node[]) => [...ns.slice(3), ...ns.slice(0, 3)]]) {
        const m = reordered(train, order);
        await reparameterize(m);
        expect(opCounts(m)).toEqual({ Conv: 1, Relu: 1 });
        expect(attrInts(mergedConv(m), 'kernel_shape', [])).toEqual([3, 3]);
        const cmp = compare(await firstOutput(encodeModel(m), { x }), ref);
        expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
      }
    });
  }

  it('pads smaller kernels into the largest, centred: 5x5 + 3x3 + 1x1, 3x1 + 1x3, dilated 3x3 + 1x1', async () => {
    const cases: [string, (t: TestGraph) => string[], number[], number[]][] = [
      ['5x5 + 3x3 + 1x1', (t) => [t.conv('x', { out: 4, k: 5 }), t.conv('x', { out: 4, k: 3, bias: true }), t.conv('x', { out: 4, k: 1, pads: NO_PAD })], [5, 5], [2, 2, 2, 2]],
      ['3x1 + 1x3', (t) => [t.conv('x', { out: 4, k: [3, 1], pads: [1, 0, 1, 0] }), t.conv('x', { out: 4, k: [1, 3], pads: [0, 1, 0, 1], bias: true })], [3, 3], [1, 1, 1, 1]],
      ['dilated 3x3 + 1x1', (t) => [t.conv('x', { out: 4, dilation: 2 }), t.conv('x', { out: 4, k: 1, pads: NO_PAD })], [3, 3], [2, 2, 2, 2]],
    ];
    for (const [name, branches, kernel, pads] of cases) {
      const t = new TestGraph(['N', 3, 9, 9]);
      const [first, ...rest] = branches(t);
      t.output(rest.reduce((acc, b) => t.add(acc, b), first));
      const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 3, 9, 9], 5));
      expect(opCounts(deploy), name).toEqual({ Conv: 1 });
      expect(reports['merge-conv-branches'].skipped, name).toEqual([]);
      expect(attrInts(mergedConv(deploy), 'kernel_shape', []), name).toEqual(kernel);
      expect(attrInts(mergedConv(deploy), 'pads', []), name).toEqual(pads);
      expect(cmp.diff, name).toBeLessThanOrEqual(cmp.tol);
    }
  });

  it('adds per-channel and scalar constant terms into the bias', async () => {
    const t = new TestGraph(['N', 3, 6, 6]);
    const s = t.add(t.add(t.conv('x', { out: 4 }), t.constant([1, 4, 1, 1], [0.5, -1, 2, 0.25])), t.conv('x', { out: 4, k: 1, pads: NO_PAD }));
    t.output(t.add(s, t.constant([], [0.75])));
    const { deploy, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 3, 6, 6], 6));
    expect(opCounts(deploy)).toEqual({ Conv: 1 });
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });

  it('merges the convs of each input of a sum separately', async () => {
    const t = new TestGraph(['N', 4, 6, 6]);
    const y = t.op('Relu', ['x']);
    const onX = t.add(t.conv('x', { out: 4 }), t.conv('x', { out: 4, k: 1, pads: NO_PAD }));
    const onY = t.add(t.conv(y, { out: 4, k: 1, pads: NO_PAD }), t.conv(y, { out: 4 }));
    t.output(t.add(onX, onY));
    const { deploy, cmp } = await buildAndCompare(t.bytes(), inputTensor([1, 4, 6, 6], 8));
    expect(opCounts(deploy)).toEqual({ Conv: 2, Add: 1, Relu: 1 });
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });

  it('skips, with the reason, branches with other strides, misaligned pads, or an output read elsewhere', async () => {
    const t = new TestGraph(['N', 3, 8, 8]);
    const base = t.conv('x', { out: 4 });
    // 8x8 -> 8x8 like base, but every tap shifted by one pixel: merging would change the result.
    const shifted = t.conv('x', { out: 4, pads: [0, 0, 2, 2] });
    const sharedOut = t.conv('x', { out: 4, k: 1, pads: NO_PAD });
    const one = t.conv('x', { out: 4, k: 1, pads: NO_PAD, bias: true });
    const s1 = t.add(t.add(t.add(base, shifted), sharedOut), one);
    // 8x8 -> 4x4 both: 3x3 stride 2 pad 1 and 5x5 stride 1 dilation 1 pad 0.
    const strided = t.add(t.conv('x', { out: 4, stride: 2 }), t.conv('x', { out: 4, k: 5, pads: NO_PAD }));
    t.output(s1, sharedOut, strided);
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 3, 8, 8], 9));
    const skipped = reports['merge-conv-branches'].skipped.join('\n');
    expect(skipped).toMatch(/pads .* do not align/);
    expect(skipped).toMatch(/output is also read outside the sum/);
    expect(skipped).toMatch(/strides \[1,1\], not \[2,2\]|strides \[2,2\], not \[1,1\]/);
    // base + one merged; shifted, sharedOut and both strided convs stay.
    expect(opCounts(deploy)).toEqual({ Conv: 5, Add: 3 });
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
