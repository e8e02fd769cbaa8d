/** append-softmax: structure and numbers against a float64 softmax of the original model's outputs. */
import { describe, expect, it } from 'vitest';
import { cloneModel, createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { appendSoftmax } from '../../builders/passes/append-softmax.js';
import { floatTensor, maxAbsDiff, runOrt } from '../helpers/ort.js';
import { runPass, passInputs } from '../helpers/passes.js';
import { classifierModel, convsModel } from '../helpers/preprocess-models.js';

/** Softmax in float64 over `axis` of a [d0, d1, ...] array. */
function softmax(x: Float32Array, dims: number[], axis: number): Float64Array {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis];
  const outer = x.length / (n * inner);
  const out = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * n + k) * inner + i;
      let max = -Infinity;
      for (let k = 0; k < n; k++) max = Math.max(max, x[at(k)]);
      let sum = 0;
      for (let k = 0; k < n; k++) sum += Math.exp(x[at(k)] - max);
      for (let k = 0; k < n; k++) out[at(k)] = Math.exp(x[at(k)] - max) / sum;
    }
  }
  return out;
}

async function compare(m: Model, inputDims: number[], outName: string, axis: number): Promise<{ soft: Model; diff: number; lines: string[] }> {
  const soft = cloneModel(m);
  const rep = await runPass(appendSoftmax, soft, passInputs(undefined, { softmax: true }));
  const feeds = { x: floatTensor(inputDims, 3) };
  const logits = (await runOrt(m, feeds))[outName];
  const probs = (await runOrt(soft, feeds))[outName];
  const ref = softmax(logits.data as Float32Array, logits.dims as number[], axis);
  return { soft, diff: maxAbsDiff(probs.data as Float32Array, ref), lines: [...rep.changes, ...rep.skipped] };
}

describe('append-softmax', () => {
  it('[N,10] classifier: Softmax over axis 1, output name kept', async () => {
    const { soft, diff, lines } = await compare(classifierModel(16, 16), [3, 3, 16, 16], 'y', 1);
    const last = soft.graph.producer('y')!;
    expect([last.opType, last.attrs.axis]).toEqual(['Softmax', { kind: 'int', value: 1 }]);
    expect(soft.graph.outputs.map((o) => [o.name, o.shape])).toEqual([['y', ['N', 10]]]);
    expect(diff).toBeLessThan(1e-6);
    expect(lines).toEqual(['Softmax y/Softmax over axis 1 of y (scores now y_logits)']);
  });

  it('[N,C,H,W] at opset 13: one Softmax over the channel axis', async () => {
    const { soft, diff } = await compare(convsModel(8, 8, [{ outC: 5 }], 'N', 13), [2, 3, 8, 8], 'y0', 1);
    expect(soft.graph.nodes.filter((n) => n.opType === 'Softmax' || n.opType === 'Transpose').map((n) => n.opType)).toEqual(['Softmax']);
    expect(diff).toBeLessThan(1e-6);
  });

  it('[N,C,H,W] at opset 11 (Softmax flattens trailing axes): Transpose, Softmax, Transpose', async () => {
    const { soft, diff } = await compare(convsModel(8, 8, [{ outC: 5 }], 'N', 11), [2, 3, 8, 8], 'y0', 1);
    expect(soft.graph.topoSort().slice(-3).map((n) => n.opType)).toEqual(['Transpose', 'Softmax', 'Transpose']);
    expect(diff).toBeLessThan(1e-6);
  });

  it('nodes that read an output inside the graph keep reading the scores', async () => {
    const m = createModel(13);
    const g = m.graph;
    g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 4] }];
    g.addNode({ name: 'relu', opType: 'Relu', inputs: ['x'], outputs: ['y'] });
    g.addNode({ name: 'neg', opType: 'Neg', inputs: ['y'], outputs: ['z'] });
    g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: ['N', 4] }, { name: 'z', elemType: DataType.FLOAT, shape: ['N', 4] }];
    const soft = cloneModel(m);
    await runPass(appendSoftmax, soft, passInputs(undefined, { softmax: true }));
    const feeds = { x: floatTensor([2, 4], 9) };
    const before = await runOrt(m, feeds);
    const after = await runOrt(soft, feeds);
    // z = -relu(x) gets a Softmax of its own, computed from the unchanged -relu(x).
    expect(maxAbsDiff(after.z.data as Float32Array, softmax(before.z.data as Float32Array, [2, 4], 1))).toBeLessThan(1e-6);
    expect(maxAbsDiff(after.y.data as Float32Array, softmax(before.y.data as Float32Array, [2, 4], 1))).toBeLessThan(1e-6);
  });

  it('an output that already is a Softmax is left alone', async () => {
    const m = classifierModel(16, 16);
    await runPass(appendSoftmax, m, passInputs(undefined, { softmax: true }));
    const again = await runPass(appendSoftmax, m, passInputs(undefined, { softmax: true }));
    expect(again).toMatchObject({ status: 'unchanged', changes: [], skipped: ['skipped y: already produced by Softmax y/Softmax'] });
  });

  it('is wanted only with graph.extra_ops: {type: softmax}', () => {
    expect(appendSoftmax.wanted(passInputs(undefined, { softmax: true }))).toBe(true);
    expect(appendSoftmax.wanted(passInputs(undefined))).toBe(false);
  });
});
