import { describe, expect, it } from 'vitest';
import { DataType, floatToHalf, halfToFloat } from '../../core/tensor.js';
import { storeWeightsFp16 } from '../../builders/passes/store-weights-fp16.js';
import { cloneModel } from '../../builders/ir/model.js';
import { classifierModel } from '../helpers/preprocess-models.js';
import { passInputs, runPass } from '../helpers/passes.js';
import { firstOutput, inputTensor, opCounts } from '../helpers/repvgg.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';

function fp16Inputs() {
  const inputs = passInputs();
  inputs.config.backend.dtype = 'fp16';
  return inputs;
}

describe('store-weights-fp16', () => {
  it('stores Conv and Gemm weights as float16 behind Casts; outputs within float16 rounding of fp32', async () => {
    const fp32 = classifierModel(16, 16, 10);
    const m = cloneModel(fp32);
    // A float constant that is not a weight (Mul by a scale) must stay float32.
    const g = m.graph;
    const scale = g.addInitializer('scale', DataType.FLOAT, [1], [0.1]);
    const fc = g.node('fc')!;
    g.renameOutput(fc, 0, 'y_raw');
    g.addNode({ name: 'mul', opType: 'Mul', inputs: ['y_raw', scale], outputs: ['y'] });
    const ref = cloneModel(m);
    expect(storeWeightsFp16.wanted(fp16Inputs())).toBe(true);
    expect(storeWeightsFp16.wanted(passInputs())).toBe(false);
    const report = await runPass(storeWeightsFp16, m, fp16Inputs());
    // 8x3x3x3 + 8 + 10x8 + 10 = 314 values.
    expect(report.changes).toEqual(['4 weight tensor(s) stored as float16 behind a Cast to float32: 1256 -> 628 bytes']);
    expect(opCounts(m)).toEqual({ ...opCounts(ref), Cast: 4 });
    expect(m.graph.initializers.get('scale')!.dataType).toBe(DataType.FLOAT);
    expect([...m.graph.initializers.values()].filter((t) => t.dataType === DataType.FLOAT16).map((t) => t.name).sort()).toEqual(
      ['/stem/conv.bias_fp16', '/stem/conv.weight_fp16', 'fc.bias_fp16', 'fc.weight_fp16']);
    // Stored values are the round-to-nearest-even halves of the originals.
    const w = ref.graph.constantFloats('fc.weight')!;
    const h = m.graph.initializers.get('fc.weight_fp16')!.data as Uint16Array;
    expect([...h]).toEqual([...w].map(floatToHalf));

    const feeds = { x: inputTensor([2, 3, 16, 16], 4) };
    const want = await firstOutput(ref, feeds);
    const got = await firstOutput(m, feeds);
    const diff = maxAbsDiff(got, want);
    // float16 keeps 11 significant bits: each weight moves by <= 2^-11 relative; two layers, sums of ~30 terms.
    expect(diff).toBeLessThanOrEqual(4e-3 * maxAbs(want));
    // Negative control: the outputs do differ (the weights really are rounded).
    expect(diff).toBeGreaterThan(0);
  });

  it('keeps a weight beyond float16 range in float32 and says why', async () => {
    const m = classifierModel(8, 8, 4);
    const w = m.graph.initializers.get('fc.weight')!.data as Float32Array;
    w[3] = 1e5;
    const report = await runPass(storeWeightsFp16, m, fp16Inputs());
    expect(report.skipped).toEqual(['fc.weight: |w| reaches 100000, beyond float16\'s 65504; kept float32']);
    expect(m.graph.initializers.get('fc.weight')!.dataType).toBe(DataType.FLOAT);
    expect(halfToFloat(floatToHalf(1e5))).toBe(Infinity);
  });
});
