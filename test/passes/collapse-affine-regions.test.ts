import { describe, expect, it } from 'vitest';
import { attrInt, attrInts } from '../../builders/ir/graph.js';
import { DataType } from '../../core/tensor.js';
import { buildAndCompare, inputTensor, opCounts, TestGraph } from '../helpers/repvgg.js';

const NO_PAD = [0, 0, 0, 0];
const DIMS = ['N', 8, 9, 9];

/** Re-parameterize t's graph, compare with the train-time graph at batch 1 and 3; the batch-3 build. */
async function collapsed(t: TestGraph) {
  const [, c, h, w] = DIMS as [string, number, number, number];
  const one = await buildAndCompare(t.bytes(), inputTensor([1, c, h, w], 1));
  expect(one.cmp.diff).toBeLessThanOrEqual(one.cmp.tol);
  const three = await buildAndCompare(t.bytes(), inputTensor([3, c, h, w], 2));
  expect(three.cmp.diff).toBeLessThanOrEqual(three.cmp.tol);
  const report = three.reports['collapse-affine-regions'];
  return { deploy: three.deploy, changes: report.changes.join('\n'), skipped: report.skipped.join('\n') };
}

function channelConst(t: TestGraph, values: number[]): string {
  return t.constant([values.length, 1, 1], values);
}

describe('collapse-affine-regions', () => {
  it("RepViT's BN after the Add: BN(BN(dw3x3(x)) + dw1x1(x) + x) -> one depthwise 3x3", async () => {
    const t = new TestGraph(DIMS);
    const dw = t.bn(t.conv('x', { out: 8, group: 8 }));
    const one = t.conv('x', { out: 8, k: 1, pads: NO_PAD, group: 8, bias: true });
    t.output(t.op('Relu', [t.bn(t.add(t.add(dw, one), 'x'))]));
    const { deploy, changes } = await collapsed(t);
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1 });
    const conv = deploy.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(attrInt(conv, 'group', 1)).toBe(8);
    expect(changes).toMatch(/BatchNormalization .* -> Conv .*\(3x3, depthwise\) on x/);
  });

  it("FastViT's RepMixer x + s * (mixer(x) - BN(x)), layer scale [C,1,1], and a Div by a scalar", async () => {
    const t = new TestGraph(DIMS);
    const mixer = t.add(t.add(t.bn('x'), t.bn(t.conv('x', { out: 8, k: 1, pads: NO_PAD, group: 8 }))), t.bn(t.conv('x', { out: 8, group: 8 })));
    const diff = t.op('Sub', [mixer, t.bn('x')]);
    const scaled = t.op('Mul', [channelConst(t, [0.5, 1.5, -0.7, 1, 0.9, 1.1, 0.3, 2]), diff]);
    t.output(t.op('Relu', [t.op('Div', [t.add('x', scaled), t.constant([], [4])])]));
    const { deploy } = await collapsed(t);
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1 });
  });

  it("DBB's sequential 1x1 -> padded KxK, its average-pool branch, and a stride-2 variant", async () => {
    for (const stride of [1, 2]) {
      const t = new TestGraph(DIMS);
      const seq = t.conv(t.conv('x', { out: 8, k: 1, pads: NO_PAD }), { out: 8, stride });
      const avg = t.op('AveragePool', [t.conv('x', { out: 8, k: 1, pads: NO_PAD })], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1], count_include_pad: 1 });
      t.output(t.op('Relu', [t.add(t.add(t.bn(t.conv('x', { out: 8, stride })), t.bn(seq)), t.bn(avg))]));
      const { deploy, changes } = await collapsed(t);
      expect(opCounts(deploy), `stride ${stride}`).toEqual({ Conv: 1, Relu: 1 });
      expect(changes).toMatch(stride === 2 ? /\(3x3, stride 2x2\)/ : /\(3x3\) on x/);
    }
  });

  it('a zero Pad then an unpadded conv becomes the conv with those pads; a 3x3 stride 2 then a 1x1 composes', async () => {
    const t = new TestGraph(DIMS);
    const padded = t.op('Pad', [t.conv('x', { out: 8, k: 1, pads: NO_PAD }), t.constant([8], [0, 0, 1, 2, 0, 0, 1, 2], DataType.INT64)]);
    const a = t.conv(padded, { out: 8, k: 3, pads: NO_PAD });
    const b = t.conv(t.conv('x', { out: 4, stride: 2 }), { out: 2, k: 1, pads: NO_PAD, bias: true });
    t.output(t.op('Relu', [a]), t.op('Relu', [b]));
    const { deploy } = await collapsed(t);
    expect(opCounts(deploy)).toEqual({ Conv: 2, Relu: 2 });
    const pads = deploy.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => attrInts(n, 'pads', []).join());
    expect(pads.sort()).toEqual(['1,1,1,1', '1,2,1,2']);
  });

  it('BN(conv(a) + conv(b)) over two inputs: one Conv per input plus one Add, no BN', async () => {
    const t = new TestGraph(DIMS);
    const y = t.op('Relu', ['x']);
    t.output(t.op('Relu', [t.bn(t.add(t.conv('x', { out: 8 }), t.conv(y, { out: 8, k: 1, pads: NO_PAD })))]));
    const { deploy } = await collapsed(t);
    expect(opCounts(deploy)).toEqual({ Conv: 2, Add: 1, Relu: 2 });
  });

  it('negative controls: a nonlinearity in the chain, a Mul by a tensor, a dilation mismatch, reflect padding stay, saying why', async () => {
    const t = new TestGraph(DIMS);
    // BN -> Relu -> BN -> padded conv: the second BN's shift cannot pass the zero padding.
    const chain = t.conv(t.bn(t.op('Relu', [t.bn(t.conv('x', { out: 8 }))])), { out: 8 });
    const gated = t.add(t.op('Mul', [t.conv('x', { out: 8 }), t.op('Sigmoid', ['x'])]), t.conv('x', { out: 8, k: 1, pads: NO_PAD }));
    const dilated = t.add(t.conv('x', { out: 8, dilation: 2 }), t.conv('x', { out: 8 }));
    const reflect = t.conv(t.op('Pad', [t.conv('x', { out: 8, k: 1, pads: NO_PAD }), t.constant([8], [0, 0, 1, 1, 0, 0, 1, 1], DataType.INT64)], { mode: 'reflect' }), { out: 8, pads: NO_PAD });
    t.output(chain, gated, dilated, reflect);
    const { deploy, skipped } = await collapsed(t);
    const ops = opCounts(deploy);
    expect(ops).toMatchObject({ Relu: 1, Mul: 1, Sigmoid: 1, Pad: 1 });
    // chain: 2 convs + the BN between Relu and conv; gated: 2; dilated: 2; reflect: 2.
    expect(ops.Conv).toBe(8);
    expect(ops.BatchNormalization).toBe(1);
    expect(skipped).toMatch(/zero-pads a value with a constant offset/);
    expect(skipped).toMatch(/Mul .*neither operand is a constant/);
    expect(skipped).toMatch(/dilations \[2,2\] and \[1,1\] differ|dilations \[1,1\] and \[2,2\] differ/);
    expect(skipped).toMatch(/Pad .*mode=reflect: the border is not zero/);
  });

  it('a mean subtraction before a zero-padded conv stays; before an unpadded one it folds', async () => {
    const t = new TestGraph(DIMS);
    const centred = t.op('Sub', [t.op('Relu', ['x']), channelConst(t, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])]);
    t.output(t.conv(centred, { out: 4 }), t.conv(t.op('Sub', [t.op('Relu', ['x']), t.constant([], [0.5])]), { out: 4, k: 1, pads: NO_PAD }));
    const { deploy, skipped } = await collapsed(t);
    expect(opCounts(deploy)).toEqual({ Relu: 2, Sub: 1, Conv: 2 });
    expect(skipped).toMatch(/Sub .*: left as is; it ends there because Conv .* cannot absorb it: it zero-pads a value with a constant offset/);
  });

  it('keeps a low-rank 1x1 pair factorized (one conv would cost more), saying so', async () => {
    const t = new TestGraph(['N', 16, 5, 5]);
    t.output(t.op('Relu', [t.bn(t.conv(t.conv('x', { out: 2, k: 1, pads: NO_PAD }), { out: 16, k: 1, pads: NO_PAD }))]));
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([2, 16, 5, 5], 3));
    expect(opCounts(deploy)).toEqual({ Conv: 2, Relu: 1 });
    expect(reports['collapse-affine-regions'].skipped.join('\n')).toMatch(/left as is: 1 node\(s\) at 256 MACs per pixel instead of 2 at 64/);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});

describe('fold-bn-into-gemm', () => {
  it('folds BatchNorm1d after global pooling into the Linear head (transB, alpha, beta)', async () => {
    for (const transB of [0, 1]) {
      const t = new TestGraph(['N', 6, 4, 4]);
      const flat = t.op('Flatten', [t.op('GlobalAveragePool', [t.op('Relu', ['x'])])], { axis: 1 });
      const w = t.g.addInitializer('fc.w', DataType.FLOAT, transB ? [5, 6] : [6, 5], t.random(30, 0.5));
      const c = t.g.addInitializer('fc.b', DataType.FLOAT, [5], t.random(5, 0.5));
      const gemm = t.g.uniqueName('gemm');
      t.g.addNode({ opType: 'Gemm', inputs: [t.bn(flat), w, c], outputs: [gemm], attrs: { transB, alpha: { kind: 'float', value: 0.5 }, beta: { kind: 'float', value: 2 } } });
      t.output(gemm);
      const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([3, 6, 4, 4], 4));
      expect(opCounts(deploy)).toEqual({ Relu: 1, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
      expect(reports['fold-bn-into-gemm'].changes).toHaveLength(1);
      expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
    }
  });

  it('leaves a BN that is the B input of a Gemm alone, saying why', async () => {
    const t = new TestGraph(['N', 6]);
    const w = t.g.addInitializer('a', DataType.FLOAT, [3, 6], t.random(18, 0.5));
    const y = t.g.uniqueName('gemm');
    t.g.addNode({ opType: 'Gemm', inputs: [w, t.bn('x'), ''], outputs: [y], attrs: { transB: 1 } });
    t.output(y);
    const { deploy, reports, cmp } = await buildAndCompare(t.bytes(), inputTensor([4, 6], 5));
    expect(opCounts(deploy)).toEqual({ BatchNormalization: 1, Gemm: 1 });
    expect(reports['fold-bn-into-gemm'].skipped.join('\n')).toMatch(/B or C input, not A/);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
