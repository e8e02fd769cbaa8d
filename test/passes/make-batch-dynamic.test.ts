/**
 * make-batch-dynamic: structure (shapes say N, Reshape targets rewritten, nothing else touched; refused graphs
 * byte-identical) and numbers on onnxruntime-node (optimizations off): the dynamic model at batch B equals B
 * batch-1 runs of the original, and at batch 1 it is bit-identical.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { PASSES } from '../../builders/passes/index.js';
import { makeBatchDynamic } from '../../builders/passes/make-batch-dynamic.js';
import { runPasses, type PassRecord } from '../../builders/passes/manager.js';
import { concatBatchModel, manyOpsModel, reshapeHeadModel, seModel, shapeFlattenModel, singleOpModel, type SingleOp } from '../helpers/batch-models.js';
import { tinyClassifier } from '../helpers/models.js';
import { floatTensor, maxAbs, maxAbsDiff, runOrt } from '../helpers/ort.js';
import { passInputs, runPass } from '../helpers/passes.js';

const inputs = passInputs();
/** Batch B vs B runs at batch 1: only the GEMM blocking may differ, so float32 rounding, no more. */
const tolerance = (scale: number) => 1e-6 * scale + 1e-7;

function ops(m: Model): string[] {
  return m.graph.topoSort().map((n) => `${n.opType} ${n.name}`);
}

function reshapeTarget(m: Model, node: string): number[] | undefined {
  return m.graph.constantInts(m.graph.node(node)!.inputs[1]);
}

const run = (m: Model): Promise<PassRecord> => runPass(makeBatchDynamic, m, inputs);

/** The passes the table runs before make-batch-dynamic. */
const passesBefore = PASSES.slice(0, PASSES.indexOf(makeBatchDynamic));

/** `model` on x[batch, ...] against `reference` run once per batch item at batch 1. */
async function batchVsItems(reference: Uint8Array, model: Model, batch: number, seed: number) {
  const input = model.graph.inputs[0];
  const item = input.shape!.slice(1) as number[];
  const x = floatTensor([batch, ...item], seed);
  const out = model.graph.outputs[0].name;
  const got = (await runOrt(model, { [input.name]: x }))[out];
  const size = item.reduce((a, b) => a * b, 1);
  const parts: Float32Array[] = [];
  let itemDims: readonly number[] = [];
  for (let i = 0; i < batch; i++) {
    const xi = new ort.Tensor('float32', (x.data as Float32Array).slice(i * size, (i + 1) * size), [1, ...item]);
    const y = (await runOrt(reference, { [input.name]: xi }))[out];
    parts.push(y.data as Float32Array);
    itemDims = y.dims;
  }
  const want = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.forEach((p, i) => want.set(p, i * p.length));
  const scale = maxAbs(want);
  // Items must differ, or a model that broadcast item 0 would pass.
  const spread = maxAbsDiff(parts[0], parts[batch - 1]);
  return { dims: [...got.dims], wantDims: [batch, ...itemDims.slice(1)], diff: maxAbsDiff(got.data as Float32Array, want), scale, spread };
}

/** The numeric contract: batch 4 = 4 x batch 1 within `tolerance`, batch 1 bit-identical. */
async function expectBatchIndependent(original: Uint8Array, m: Model): Promise<void> {
  const b4 = await batchVsItems(original, m, 4, 7);
  expect(b4.dims).toEqual(b4.wantDims);
  expect(b4.spread).toBeGreaterThan(1e-3 * b4.scale);
  expect(b4.diff).toBeLessThanOrEqual(tolerance(b4.scale));
  const b1 = await batchVsItems(original, m, 1, 8);
  expect(b1.diff).toBe(0);
}

const shapes = (m: Model) => ({ inputs: m.graph.inputs.map((v) => v.shape), outputs: m.graph.outputs.map((v) => v.shape) });

describe('make-batch-dynamic: accepted graphs (structure and numbers)', () => {
  it('conv + relu + GAP + Reshape[1,-1] + Gemm: the flatten target becomes [0,-1]', async () => {
    const m = reshapeHeadModel();
    const original = encodeModel(m);
    const nodes = ops(m);
    const report = await run(m);
    expect(report.skipped).toEqual([]);
    expect(report.changes).toEqual([
      'Reshape flatten: shape [1, -1] -> [0, -1] (0 copies the batch dim)',
      'input x: [1, 3, 8, 8] -> [N, 3, 8, 8]',
      'output y: [1, 5] -> [N, 5]',
    ]);
    expect(shapes(m)).toEqual({ inputs: [['N', 3, 8, 8]], outputs: [['N', 5]] });
    expect(ops(m)).toEqual(nodes);
    expect(reshapeTarget(m, 'flatten')).toEqual([0, -1]);
    expect(m.graph.initializers.has('flatten.shape')).toBe(false); // the old target had no other reader
    await expectBatchIndependent(original, m);
  });

  it('SE block: the gate Reshape [1,C,1,1] becomes [0,C,1,1]; [1,C,1,1] and [C,1,1] constants broadcast per item', async () => {
    const m = seModel();
    const original = encodeModel(m);
    const nodes = ops(m);
    const report = await run(m);
    expect(report.skipped).toEqual([]);
    expect(report.changes[0]).toBe('Reshape se/reshape: shape [1, 8, 1, 1] -> [0, 8, 1, 1] (0 copies the batch dim)');
    expect(shapes(m)).toEqual({ inputs: [['N', 3, 8, 8]], outputs: [['N', 5]] });
    expect(ops(m)).toEqual(nodes);
    expect(reshapeTarget(m, 'se/reshape')).toEqual([0, 8, 1, 1]);
    await expectBatchIndependent(original, m);
  });

  it('Flatten head (conv, relu, strided 1x1 conv, GAP, Flatten, Gemm): only the I/O shapes change', async () => {
    const m = tinyClassifier(1);
    const original = encodeModel(m);
    const inits = [...m.graph.initializers.keys()];
    const report = await run(m);
    expect(report).toMatchObject({ status: 'applied', changes: ['input x: [1, 3, 8, 8] -> [N, 3, 8, 8]', 'output y: [1, 10] -> [N, 10]'], skipped: [] });
    expect([...m.graph.initializers.keys()]).toEqual(inits);
    await expectBatchIndependent(original, m);
  });

  it('every other allow-listed op, with value_info: Reshape [-1,8] stays, value_info dim 0 becomes N', async () => {
    const m = manyOpsModel();
    const original = encodeModel(m);
    const nodes = ops(m);
    const report = await run(m);
    expect(report.skipped).toEqual([]);
    expect(report.changes).toContain('3 value_info shape(s): dim 0 -> N');
    expect(ops(m)).toEqual(nodes);
    expect(nodes.length).toBe(28);
    expect(reshapeTarget(m, 'reshape')).toEqual([-1, 8]);
    expect([...m.graph.valueInfo.values()].map((v) => v.shape)).toEqual([['N', 4, 12, 12], ['N', 7, 8], ['N', 1, 8]]);
    expect(shapes(m)).toEqual({ inputs: [['N', 3, 8, 8]], outputs: [['N', 5]] });
    await expectBatchIndependent(original, m);
  });

  it('negative control: leaving Reshape [1,-1] as is breaks batch 4 (the rewrite is necessary)', async () => {
    const m = reshapeHeadModel('N');
    expect(reshapeTarget(m, 'flatten')).toEqual([1, -1]);
    let outcome: string;
    try {
      const y = (await runOrt(m, { x: floatTensor([4, 3, 8, 8], 7) })).y;
      outcome = `shape [${y.dims.join(', ')}]`;
    } catch (e) {
      outcome = `ORT error: ${(e as Error).message}`;
    }
    expect(outcome).not.toBe('shape [4, 5]');
    // onnxruntime refuses the run (in its own words, not pinned here).
    expect(outcome).toMatch(/^ORT error: /);
  });
});

describe('make-batch-dynamic: refused graphs stay byte-identical', () => {
  const refused: [string, () => Model, RegExp][] = [
    ['Shape op (a dynamic-batch flatten export)', () => shapeFlattenModel(), /^batch stays static: Shape shape: Shape op reads the batch dimension$/],
    ['Concat on axis 0', concatBatchModel, /^batch stays static: Concat concat: concatenates along the batch axis 0$/],
    ['already dynamic input', () => tinyClassifier('N'), /^input x: already dynamic \(dim 0 is "N"\)$/],
    ['static batch 2', () => singleOpModel({ opType: 'Relu', batch: 2 }), /^input x: static batch 2; only batch 1/],
  ];
  /** The pass refuses with one reason matching `why` and leaves the model byte for byte as it was. */
  async function expectRefused(m: Model, why: RegExp): Promise<void> {
    const before = encodeModel(m);
    const report = await run(m);
    expect(report.changes).toEqual([]);
    expect(report.skipped.length).toBe(1);
    expect(report.skipped[0]).toMatch(why);
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(before))).toBe(true);
  }

  for (const [name, build, why] of refused) {
    it(name, () => expectRefused(build(), why));
  }

  it('the Shape export becomes dynamic once fold-constants and remove-dead-nodes ran first (table order)', async () => {
    const m = shapeFlattenModel();
    const original = encodeModel(m);
    await runPasses(m, passesBefore, inputs);
    expect(ops(m).map((o) => o.split(' ')[0])).toEqual(['Conv', 'GlobalAveragePool', 'Reshape', 'Gemm']);
    const report = await run(m);
    expect(report.skipped).toEqual([]);
    expect(reshapeTarget(m, 'flatten')).toEqual([0, -1]);
    await expectBatchIndependent(original, m);
  });

  // One op on x[1,4,4,4] (or as given), each a way an op can mix or move the batch.
  const f = (floats: number[], dims: number[]) => ({ floats, dims });
  const single: [string, SingleOp, RegExp][] = [
    ['Flatten axis 0', { opType: 'Flatten', attrs: { axis: 0 } }, /axis 0 flattens the batch/],
    ['Flatten axis 2 (batch rows x 4)', { opType: 'Flatten', attrs: { axis: 2 } }, /axis 2 merges dims \[4\] into the batch rows/],
    ['Reshape [-1,16] (4 rows per item)', { opType: 'Reshape', inputs: [[-1, 16]] }, /puts 4 rows per batch item on axis 0/],
    ['Reshape [2,-1]', { opType: 'Reshape', inputs: [[2, -1]] }, /fixes the batch axis to 2/],
    ['Reshape allowzero=1', { opType: 'Reshape', inputs: [[1, -1]], attrs: { allowzero: 1 }, opset: 14 }, /allowzero=1/],
    ['Transpose moving axis 0', { opType: 'Transpose', attrs: { perm: [1, 0, 2, 3] } }, /moves the batch axis/],
    ['Transpose without perm (reverses)', { opType: 'Transpose' }, /perm \[3, 2, 1, 0\] moves the batch axis/],
    ['Squeeze without axes', { opType: 'Squeeze' }, /would squeeze the batch axis/],
    ['Unsqueeze at 0', { opType: 'Unsqueeze', inputs: [[0]] }, /axes \[0\] include the batch axis 0/],
    ['Softmax axis 0', { opType: 'Softmax', attrs: { axis: 0 } }, /normalizes over the batch axis 0/],
    ['Softmax axis -4', { opType: 'Softmax', attrs: { axis: -4 } }, /normalizes over the batch axis 0/],
    ['Gemm transA=1', { opType: 'Gemm', dims: [4], attrs: { transA: 1 }, inputs: [f([1, 2, 3], [1, 3])] }, /transA=1 contracts over the batch axis/],
    ['MatMul with a rank-3 B', { opType: 'MatMul', inputs: [f(Array(16).fill(1), [1, 4, 4])] }, /has rank 3, not 2/],
    ['MaxPool with Indices', { opType: 'MaxPool', attrs: { kernel_shape: [2, 2] }, outputs: 2 }, /Indices output/],
    ['Add of a [2,4,4,4] constant', { opType: 'Add', inputs: [f(Array(128).fill(1), [2, 4, 4, 4])] }, /has dim 0 = 2: it would broadcast against the batch/],
    ['Mul by a rank-5 constant', { opType: 'Mul', inputs: [f(Array(64).fill(2), [1, 1, 4, 4, 4])] }, /higher rank than the data \(4\)/],
    ['ReduceMean over axis 0', { opType: 'ReduceMean', attrs: { axes: [0] } }, /reduced axes \[0\] include the batch axis 0/],
    ['ReduceMax without axes', { opType: 'ReduceMax' }, /reduces every axis, the batch included/],
    ['ReduceSum axes [-4]', { opType: 'ReduceSum', inputs: [[-4]] }, /reduced axes \[-4\] include the batch axis 0/],
    ['Slice without axes (starts on axis 0 first)', { opType: 'Slice', inputs: [[0, 1], [1, 3]] }, /sliced axes \[0, 1\] include the batch axis 0/],
    ['Pad on axis 0', { opType: 'Pad', inputs: [[1, 0, 0, 0, 0, 0, 0, 0]] }, /pads the batch axis \(1, 0\)/],
    ['Resize scaling axis 0', { opType: 'Resize', inputs: ['', f([2, 1, 1, 1], [4])] }, /scales the batch axis by 2/],
    ['Resize by sizes', { opType: 'Resize', inputs: ['', '', [1, 4, 8, 8]] }, /sizes input/],
    ['Dropout in training mode', { opType: 'Dropout', inputs: ['', [1]] }, /training mode/],
    ['Erf (not in the allow-list)', { opType: 'Erf' }, /op Erf is not known to be batch-independent/],
  ];
  for (const [name, spec, why] of single) {
    it(name, () => expectRefused(singleOpModel(spec), why));
  }

  it('Resize by scales then Add of a constant: the rank is inferred, so the batch goes dynamic', async () => {
    const m = singleOpModel({ opType: 'Resize', inputs: ['', f([1, 1, 2, 2], [4])] });
    const g = m.graph;
    g.addNode({ name: 'bias', opType: 'Add', inputs: ['y', g.addInitializer('b', DataType.FLOAT, [1], [0.5])], outputs: ['z'] });
    g.outputs = [{ name: 'z', elemType: DataType.FLOAT, shape: undefined }];
    const report = await run(m);
    expect(report.skipped).toEqual([]);
    expect(g.inputs[0].shape?.[0]).toBe('N');
  });
});

describe('make-batch-dynamic: PyTorch fixtures after the re-parameterization passes', () => {
  for (const fixture of ['folded_static_op13', 'bn_kept_static_op13']) {
    it(fixture, async () => {
      const original = new Uint8Array(fs.readFileSync(`test/fixtures/repvgg/${fixture}.onnx`));
      // The passes rewrite weights in place: decode a copy so `original` stays the reference.
      const m = decodeModel(original.slice(), fixture);
      await runPasses(m, passesBefore, inputs);
      const reparam = encodeModel(m);
      const nodes = ops(m);
      const report = await run(m);
      expect(report.skipped).toEqual([]);
      expect(shapes(m)).toEqual({ inputs: [['N', 3, 64, 64]], outputs: [['N', 10]] });
      expect(ops(m)).toEqual(nodes);
      // This pass's own effect, strictly: batch 3 = 3 batch-1 runs of the re-parameterized static model.
      const own = await batchVsItems(reparam, m, 3, 11);
      expect(own.dims).toEqual([3, 10]);
      expect(own.spread).toBeGreaterThan(1e-2 * own.scale);
      expect(own.diff).toBeLessThanOrEqual(tolerance(own.scale));
      // The whole pipeline against the original ONNX: re-parameterization reorders float sums.
      const end = await batchVsItems(original, m, 3, 11);
      console.log(`${fixture}: batch 3 vs 3x batch 1: reparam ${own.diff.toExponential(2)}, original ${end.diff.toExponential(2)} (max |y| ${end.scale.toFixed(3)})`);
      expect(end.diff).toBeLessThanOrEqual(1e-5 * end.scale);
    });
  }
});
