import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { chooseFloatLayers, quantizedCandidate, type EvalSet } from '../../builders/quantize/accuracy.js';
import { runScores, top1 } from '../../builders/quantize/evaluate.js';
import { planQuantization, type QdqOptions } from '../../builders/quantize/qdq.js';
import { createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { RebakeError } from '../../core/errors.js';
import { seededFloats } from '../helpers/ort.js';
import { minMaxRanges } from '../helpers/quantize.js';

/** x[N,3,8,8] -> 4 x (Conv 3x3 -> Relu) -> GlobalAveragePool -> Flatten -> Gemm -> y[N,10]. */
function fourConvs(): Model {
  const m = createModel(13);
  const g = m.graph;
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 8, 8] }];
  let x = 'x';
  let cin = 3;
  for (let i = 1; i <= 4; i++) {
    const w = g.addInitializer(`conv${i}.weight`, DataType.FLOAT, [8, cin, 3, 3], seededFloats(8 * cin * 9, i).map((v) => v * Math.sqrt(6 / (cin * 9))));
    const b = g.addInitializer(`conv${i}.bias`, DataType.FLOAT, [8], seededFloats(8, 10 + i).map((v) => v * 0.1));
    g.addNode({ name: `conv${i}`, opType: 'Conv', inputs: [x, w, b], outputs: [`c${i}`], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
    g.addNode({ name: `relu${i}`, opType: 'Relu', inputs: [`c${i}`], outputs: [`r${i}`] });
    x = `r${i}`;
    cin = 8;
  }
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: [x], outputs: ['p'] });
  g.addNode({ name: 'flatten', opType: 'Flatten', inputs: ['p'], outputs: ['f'] });
  const fw = g.addInitializer('fc.weight', DataType.FLOAT, [10, 8], seededFloats(80, 30).map((v) => v * 3));
  g.addNode({ name: 'fc', opType: 'Gemm', inputs: ['f', fw], outputs: ['y'], attrs: { transB: 1 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: ['N', 10] }];
  return m;
}

const OPTS: QdqOptions = { perChannel: true, activation: 'uint8' };
const WHERE = { file: 'c.yaml', line: 12, column: 24, path: 'backend.quantize.max_accuracy_drop' };

async function setup(): Promise<{ m: Model; set: EvalSet; ranges: Awaited<ReturnType<typeof minMaxRanges>> }> {
  const m = fourConvs();
  const samples = Array.from({ length: 200 }, (_, i) => seededFloats(3 * 64, 1000 + i));
  const set: EvalSet = { input: 'x', dtype: 'float32', dims: [3, 8, 8], samples, source: 'test set' };
  // Labels: the float model's own answers, so fp32 top-1 is 100%.
  set.labels = top1(await runScores(m, set));
  const feeds = [{ x: new ort.Tensor('float32', Float32Array.from(samples.flatMap((s) => [...s])), [200, 3, 8, 8]) }];
  const ranges = await minMaxRanges(m, planQuantization(m, OPTS).tensors, feeds);
  return { m, set, ranges };
}

describe('accuracy loop (max_accuracy_drop)', () => {
  it('keeps float only what it must: a badly calibrated tensor between conv2 and conv3', async () => {
    const { m, set, ranges } = await setup();
    const allInt8 = top1(await runScores(quantizedCandidate(m, ranges, OPTS), set));
    // With good ranges the int8 model is close to fp32.
    const good = allInt8.filter((p, i) => p === set.labels![i]).length / 2;
    expect(good).toBeGreaterThan(90);
    // r2 (conv2's output, conv3's input) calibrated 2000x too wide: a handful of codes for all its values.
    ranges.set('r2', { min: 0, max: ranges.get('r2')!.max * 2000 });
    const { keepFloat, report } = await chooseFloatLayers(m, ranges, OPTS, set, 1, WHERE, () => {});
    expect(report.all_int8).toBeLessThan(80);
    expect(report.sensitivity.map((s) => s.node)).toEqual(['conv1', 'conv2', 'conv3', 'conv4', 'fc']);
    // conv2 and conv3 both touch r2: the two most sensitive.
    const ranked = [...report.sensitivity].sort((a, b) => b.relative_error - a.relative_error).map((s) => s.node);
    expect(ranked.slice(0, 2).sort()).toEqual(['conv2', 'conv3']);
    expect([...keepFloat].sort()).toEqual(['conv2', 'conv3']);
    expect(report.fp32_top1).toBe(100);
    expect(report.drop).toBeLessThanOrEqual(1);
    expect(report.kept_float.map((k) => k.node).sort()).toEqual(['conv2', 'conv3']);
    // Independently: the chosen model's top-1 on the set is what the report says.
    const chosen = top1(await runScores(quantizedCandidate(m, ranges, { ...OPTS, keepFloat }), set));
    expect(chosen.filter((p, i) => p === set.labels![i]).length / 2).toBe(report.final);
  });

  it('nothing float when the all-int8 model meets the bound; agreement with fp32 without labels', async () => {
    const { m, set, ranges } = await setup();
    const unlabelled: EvalSet = { ...set, labels: undefined };
    const { keepFloat, report } = await chooseFloatLayers(m, ranges, OPTS, unlabelled, 10, WHERE, () => {});
    expect(keepFloat.size).toBe(0);
    expect(report.metric).toBe('agreement');
    expect(report.sensitivity).toEqual([]);
    expect(report.drop).toBe(Number((100 - report.final).toFixed(4)));
  });

  it('a bound no float choice can meet: a located error naming the best reached', async () => {
    const { m, set, ranges } = await setup();
    // Every tensor calibrated 5000x too wide: whichever layer stays int8 ruins the answers.
    for (const [t, r] of ranges) ranges.set(t, { min: r.min * 5000, max: r.max * 5000 + 5000 });
    const err = await chooseFloatLayers(m, ranges, OPTS, set, 0.5, WHERE, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RebakeError);
    expect((err as RebakeError).code).toBe('QUANTIZE_ACCURACY');
    expect((err as RebakeError).message).toMatch(/^c\.yaml:12:24 backend\.quantize\.max_accuracy_drop: 0\.5 points cannot be met on test set: the best reached is a drop of \d+\.\d\d \(top-1 \d+\.\d\d% vs fp32 100\.00%, the \d most sensitive of 5 layers in float\); tried up to every layer but \w+ in float$/);
  });
});
