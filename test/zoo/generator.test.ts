/** `rebake zoo`: train-time RepVGG graphs shaped like PyTorch exports (test/fixtures/repvgg/README.md). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { attrFloat } from '../../builders/ir/graph.js';
import { decodeModel, encodeModel, type Model } from '../../builders/ir/model.js';
import { toFloat32 } from '../../core/tensor.js';
import { ARCHS, blocksOf } from '../../builders/zoo/archs.js';
import { repvggModel } from '../../builders/zoo/repvgg.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';
import { compare, firstOutput, inputTensor, opCounts } from '../helpers/repvgg.js';
import { cli } from '../helpers/cli.js';


/** Through bytes, so node order is the file's. */
const roundTrip = (m: Model) => decodeModel(encodeModel(m), 'zoo.onnx');

describe('zoo RepVGG generator', () => {
  it('writes the official block layout (stem, strides, identity branches, grouped even layers)', () => {
    const b = blocksOf(ARCHS.B1g4, 224);
    expect(b).toHaveLength(1 + 4 + 6 + 16 + 1);
    expect(b.map((x) => x.outChannels).slice(0, 6)).toEqual([64, 128, 128, 128, 128, 256]);
    expect(b.filter((x) => x.stride === 2).map((x) => x.prefix)).toEqual(['stage0', 'stage1.0', 'stage2.0', 'stage3.0', 'stage4.0']);
    expect(b.filter((x) => x.groups === 4).map((x) => b.indexOf(x))).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26]);
    expect(b.every((x) => x.identity === (x.stride === 1 && x.inChannels === x.outChannels))).toBe(true);
    expect(b.map((x) => x.outSize).slice(-2)).toEqual([14, 7]);
  });

  it('BN-kept flavour: conv without bias + BatchNormalization per branch, state-dict names, Identity-shared BNs', () => {
    const a = ARCHS['tiny-g2-se'];
    const blocks = blocksOf(a, 64);
    const ids = blocks.filter((b) => b.identity).length;
    const m = roundTrip(repvggModel(a, { inputSize: 64 }));
    const ops = opCounts(m);
    expect(ops).toMatchObject({ BatchNormalization: 2 * blocks.length + ids, Conv: 4 * blocks.length, Add: blocks.length + ids, Pad: blocks.length, AveragePool: blocks.length, Mul: blocks.length });
    expect(ops.Shape).toBeUndefined();
    const g = m.graph;
    const branchConvs = g.nodes.filter((n) => n.opType === 'Conv' && n.name.includes('/rbr_'));
    expect(branchConvs.every((n) => n.inputs.length === 2)).toBe(true);
    expect(g.initializers.has('stage0.rbr_dense.conv.weight')).toBe(true);
    expect(g.initializers.has('stage1.1.rbr_identity.running_var')).toBe(true);
    expect(g.initializers.has('stage3.1.se.up.bias')).toBe(true);
    // Every third block's 1x1 BN reads the 3x3 BN's tensors through Identity nodes listed first.
    const identities = g.nodes.filter((n) => n.opType === 'Identity');
    expect(identities.length).toBe(4 * Math.floor(blocks.length / 3));
    expect(g.nodes.slice(0, identities.length).every((n) => n.opType === 'Identity')).toBe(true);
    expect(identities[0]).toMatchObject({ inputs: ['stage1.1.rbr_dense.bn.weight'], outputs: ['stage1.1.rbr_1x1.bn.weight'] });
    // Non-trivial statistics: several epsilons, variances far below the largest epsilon.
    const bns = g.nodes.filter((n) => n.opType === 'BatchNormalization');
    expect(new Set(bns.map((n) => attrFloat(n, 'epsilon', 0))).size).toBeGreaterThanOrEqual(3);
    const vars = bns.flatMap((n) => [...toFloat32(g.constant(n.inputs[4])!)]);
    expect(vars.filter((v) => v < 1e-3).length).toBeGreaterThan(vars.length / 10);
  });

  it('BN-folded dynamic flavour (opset 11): anonymous conv weights with bias, identity BN listed first, dynamic flatten', () => {
    const m = roundTrip(repvggModel('tiny', { inputSize: 64, bnFolded: true, dynamicBatch: true, opset: 11 }));
    const g = m.graph;
    expect(m.irVersion).toBe(6);
    expect(m.opsetImport).toEqual([{ domain: '', version: 11 }]);
    expect(g.inputs[0].shape).toEqual(['batch_size', 3, 64, 64]);
    expect(opCounts(m)).toMatchObject({ BatchNormalization: 3, Conv: 16, Shape: 1, Gather: 1, Unsqueeze: 1, Concat: 1, Reshape: 1, Gemm: 1 });
    const convs = g.nodes.filter((n) => n.opType === 'Conv');
    expect(convs.every((n) => n.inputs.length === 3 && n.inputs[1].startsWith('onnx::Conv_'))).toBe(true);
    const order = g.nodes.map((n) => n.name);
    expect(order.indexOf('/stage1/stage1.1/rbr_identity/BatchNormalization')).toBeLessThan(order.indexOf('/stage1/stage1.1/rbr_dense/conv/Conv'));
    expect(g.nodes.find((n) => n.opType === 'Unsqueeze')!.attrs.axes).toEqual({ kind: 'ints', value: [0] });
    // Blocks 2 and 5 share their 3x3 branch's folded bias.
    expect(g.nodes.filter((n) => n.opType === 'Identity')).toHaveLength(2);
  });

  it('is deterministic per seed, and both flavours compute the same function', async () => {
    const a = encodeModel(repvggModel('tiny-g4', { inputSize: 64, seed: 7 }));
    expect(Buffer.from(encodeModel(repvggModel('tiny-g4', { inputSize: 64, seed: 7 }))).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(encodeModel(repvggModel('tiny-g4', { inputSize: 64, seed: 8 }))).equals(Buffer.from(a))).toBe(false);
    const folded = encodeModel(repvggModel('tiny-g4', { inputSize: 64, seed: 7, bnFolded: true }));
    const x = inputTensor([1, 3, 64, 64], 1);
    const ya = await firstOutput(a, { input: x });
    const cmp = compare(await firstOutput(folded, { input: x }), ya);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });

  it('produces outputs of a sane scale that depend on the input', async () => {
    const m = encodeModel(repvggModel('A0', { inputSize: 64, dynamicBatch: true }));
    const y = await firstOutput(m, { input: inputTensor([2, 3, 64, 64], 3) });
    expect(y).toHaveLength(2000);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(maxAbs(y)).toBeGreaterThan(0.5);
    expect(maxAbs(y)).toBeLessThan(100);
    expect(maxAbsDiff(y.subarray(0, 1000), y.subarray(1000))).toBeGreaterThan(0.01 * maxAbs(y));
  });
});

describe('rebake zoo', () => {
  it('writes the same model as the generator', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-zoo-'));
    const out = path.join(dir, 'm.onnx');
    const r = cli(['zoo', 'tiny-g4', '--out', out, '--seed', '3', '--size', '64', '--bn-folded', '--dynamic-batch', '--opset', '11']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/RepVGG-tiny-g4 train-time/);
    const expected = encodeModel(repvggModel('tiny-g4', { seed: 3, inputSize: 64, bnFolded: true, dynamicBatch: true, opset: 11 }));
    expect(fs.readFileSync(out).equals(Buffer.from(expected))).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad arguments with one line and exit code 2, writing nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-zoo-'));
    const out = path.join(dir, 'm.onnx');
    const cases: [string[], RegExp][] = [
      [['zoo', 'Z9', '--out', out], /unknown architecture "Z9"; expected one of: A0, A1/],
      [['zoo', 'A0'], /--out FILE is required/],
      [['zoo', 'tiny', '--out', out, '--size', '100'], /multiple of 32, got 100/],
      [['zoo', 'tiny', '--out', out, '--opset', '12'], /opset must be one of 11, 13, got 12/],
      [['zoo', 'tiny', '--out', path.join(dir, 'blocker', 'm.onnx')], /m.onnx: cannot create this file: .*blocker is a file, not a folder$/m],
    ];
    fs.writeFileSync(path.join(dir, 'blocker'), 'a file where a folder should be');
    for (const [args, msg] of cases) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(fs.readdirSync(dir)).toEqual(['blocker']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates missing folders for --out', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-zoo-'));
    const out = path.join(dir, 'a', 'b', 'm.onnx');
    const r = cli(['zoo', 'tiny', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['m.onnx']);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
