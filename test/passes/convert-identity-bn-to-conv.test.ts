import { describe, expect, it } from 'vitest';
import { attrInt, attrInts } from '../../builders/ir/graph.js';
import { toFloat32 } from '../../core/tensor.js';
import { buildAndCompare, decodeCopy, firstOutput, inputTensor, opCounts, reparameterize, TestGraph, compare } from '../helpers/repvgg.js';

/** One RepVGG block: BN(x) + conv3x3(x) + conv1x1(x) (grouped, dilated as asked), then Relu. */
function block(c: number, group: number, dilation = 1): TestGraph {
  const t = new TestGraph(['N', c, 8, 8]);
  const id = t.bn('x');
  const dense = t.conv('x', { out: c, group, dilation, bias: true });
  const one = t.conv('x', { out: c, k: 1, group, pads: [0, 0, 0, 0], bias: true });
  t.output(t.op('Relu', [t.add(t.add(dense, one), id)]));
  return t;
}

describe('convert-identity-bn-to-conv', () => {
  for (const [group, dilation] of [[1, 1], [4, 1], [2, 2]]) {
    it(`turns the identity BN into a 3x3 conv (group ${group}, dilation ${dilation}) with unchanged outputs`, async () => {
      const train = block(8, group, dilation).bytes();
      const x = inputTensor([3, 8, 8, 8], group);
      const ref = await firstOutput(train, { x });
      const m = decodeCopy(train);
      const reports = await reparameterize(m, ['convert-identity-bn-to-conv']);
      expect(reports['convert-identity-bn-to-conv']).toMatchObject({ changes: [expect.any(String)], skipped: [] });
      expect(opCounts(m)).toEqual({ Conv: 3, Add: 2, Relu: 1 });
      const id = m.graph.nodes.find((n) => n.name.endsWith('_as_conv'))!;
      expect(attrInts(id, 'kernel_shape', [])).toEqual([3, 3]);
      expect(attrInt(id, 'group', 1)).toBe(group);
      expect(attrInts(id, 'pads', [])).toEqual([dilation, dilation, dilation, dilation]);
      // 1 tap per output channel o, at input channel o mod (C/group), centre.
      const w = toFloat32(m.graph.constant(id.inputs[1])!);
      const cg = 8 / group;
      const nonzero: number[][] = [];
      w.forEach((v, i) => v !== 0 && nonzero.push([Math.floor(i / (cg * 9)), Math.floor(i / 9) % cg, i % 9]));
      expect(nonzero).toEqual(Array.from({ length: 8 }, (_, o) => [o, o % cg, 4]));
      const cmp = compare(await firstOutput(m, { x }), ref);
      expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
    });
  }

  it('skips a BN that is not a branch of a sum with a conv on the same input', async () => {
    const t = new TestGraph(['N', 4, 6, 6]);
    const a = t.op('Relu', [t.bn('x')]); // read by a Relu
    const b = t.op('Relu', ['x']);
    const convOnOtherInput = t.add(t.conv(a, { out: 4 }), t.bn(b));
    const noConv = t.add(t.bn('x'), b);
    t.output(convOnOtherInput, noConv);
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 4, 6, 6], 3));
    expect(opCounts(deploy).BatchNormalization).toBe(3);
    const skipped = reports['convert-identity-bn-to-conv'].skipped.join('\n');
    expect(skipped).toMatch(/not read by exactly one Add\/Sum/);
    expect(skipped).toMatch(/has no Conv reading/);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });

  it('skips when the sibling convs disagree on groups', async () => {
    const t = new TestGraph(['N', 8, 6, 6]);
    const s = t.add(t.add(t.conv('x', { out: 8, group: 2 }), t.conv('x', { out: 8, k: 1, pads: [0, 0, 0, 0] })), t.bn('x'));
    t.output(s);
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([1, 8, 6, 6], 4));
    expect(opCounts(deploy).BatchNormalization).toBe(1);
    expect(reports['convert-identity-bn-to-conv'].skipped.join('\n')).toMatch(/differ in group/);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
