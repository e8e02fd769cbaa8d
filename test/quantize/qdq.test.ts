import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { activationParams, planQuantization, weightScales } from '../../builders/quantize/qdq.js';
import { roundHalfEven } from '../../builders/preprocess/tables.js';
import { DataType } from '../../core/tensor.js';
import { tinyClassifier } from '../helpers/models.js';
import { floatTensor, maxAbs, maxAbsDiff, runOrt } from '../helpers/ort.js';
import { floatConvs, optimizedOps, quantizedCopy } from '../helpers/quantize.js';
import { opCounts } from '../helpers/repvgg.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-qdq-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const feeds = [1, 2, 3].map((seed) => ({ x: floatTensor([4, 3, 8, 8], seed) }));
const y = async (m: Parameters<typeof runOrt>[0], f: Record<string, ort.Tensor>, optimize = false) => (await runOrt(m, f, { optimize })).y.data as Float32Array;

describe('QDQ insertion', () => {
  it('onnxruntime runs every Conv as QLinearConv and the Gemm as QGemm; outputs within quantization error', async () => {
    const fp32 = tinyClassifier();
    const { model, result } = await quantizedCopy(fp32, feeds, { perChannel: true, activation: 'uint8' });
    // conv1's Relu is folded into its output quantization; conv2 (read by the pooling) is quantized as is.
    expect(opCounts(model)).toEqual({ Conv: 2, GlobalAveragePool: 1, Flatten: 1, Gemm: 1, QuantizeLinear: 4, DequantizeLinear: 4 + 3 + 2 });
    expect(Object.keys(result.tensors)).toEqual(['x', 'r1', 'c2', 'f']);
    expect(result.tensors.r1.zero_point).toBe(0);
    const ops = await optimizedOps(model, path.join(dir, 'opt.onnx'));
    expect(ops['com.microsoft.QLinearConv']).toBe(2);
    expect(floatConvs(ops)).toBe(0);
    expect(ops['com.microsoft.QGemm'] ?? ops.MatMulIntegerToFloat).toBeGreaterThanOrEqual(1);
    expect(ops.Gemm ?? 0).toBe(0);

    const f = { x: floatTensor([4, 3, 8, 8], 9) };
    const want = await y(fp32, f);
    const got = await y(model, f, true);
    expect(maxAbsDiff(got, want)).toBeLessThan(0.05 * maxAbs(want));
    // The integer kernels compute what the QDQ graph means (the reference Q/DQ ops, no fusion), up to a few
    // rounding steps (the logits stay float: QGemm with a float output).
    const reference = await y(model, f, false);
    expect(maxAbsDiff(got, reference)).toBeLessThan(0.01 * maxAbs(want));
  });

  it('weights int8 per output channel (or per tensor), biases int32 at in_scale * w_scale', async () => {
    const fp32 = tinyClassifier();
    for (const perChannel of [true, false]) {
      const { model, result } = await quantizedCopy(fp32, feeds, { perChannel, activation: 'uint8' });
      const g = model.graph;
      const w = fp32.graph.constantFloats('conv1.weight')!;
      const wq = g.initializers.get('conv1.weight_quantized')!;
      expect(wq.dataType).toBe(DataType.INT8);
      const scales = g.constantFloats('conv1.weight_scale')!;
      expect(scales.length).toBe(perChannel ? 4 : 1);
      for (let c = 0; c < scales.length; c++) {
        const slice = perChannel ? w.subarray(c * 27, (c + 1) * 27) : w;
        expect(scales[c]).toBe(Math.fround(maxAbs(slice) / 127));
      }
      const q = wq.data as Int8Array;
      for (let i = 0; i < w.length; i++) expect(q[i]).toBe(roundHalfEven(w[i] / scales[perChannel ? Math.floor(i / 27) : 0]));
      const bq = g.initializers.get('conv1.bias_quantized')!;
      expect(bq.dataType).toBe(DataType.INT32);
      const bs = g.constantFloats('conv1.bias_scale')!;
      const inScale = result.tensors.x.scale;
      const b = fp32.graph.constantFloats('conv1.bias')!;
      for (let c = 0; c < 4; c++) {
        expect(bs[c]).toBe(Math.fround(inScale * scales[perChannel ? c : 0]));
        expect((bq.data as Int32Array)[c]).toBe(roundHalfEven(b[c] / bs[c]));
      }
      const dq = g.nodes.find((n) => n.inputs[0] === 'conv1.weight_quantized')!;
      expect(dq.attrs.axis ? dq.attrs.axis.value : undefined).toBe(perChannel ? 0 : undefined);
      // The Gemm (transB) scales run along its output features: 10.
      expect(g.constantFloats('fc.weight_scale')!.length).toBe(perChannel ? 10 : 1);
    }
  });

  it('int8 activations: asymmetric with the Relu clamp at -128; a float-kept node stays a float Conv', async () => {
    const fp32 = tinyClassifier();
    const { model, result } = await quantizedCopy(fp32, feeds, { perChannel: true, activation: 'int8', keepFloat: new Set(['conv2']) });
    expect(result.tensors.r1.zero_point).toBe(-128);
    expect(Object.keys(result.weights)).toEqual(['conv1', 'fc']);
    const ops = await optimizedOps(model, path.join(dir, 'opt-int8.onnx'));
    expect(ops['com.microsoft.QLinearConv']).toBe(1);
    expect(floatConvs(ops)).toBe(1);
    // Negative control: without the keep-float set both convs are integer.
    const all = await quantizedCopy(fp32, feeds, { perChannel: true, activation: 'int8' });
    expect((await optimizedOps(all.model, path.join(dir, 'opt-all.onnx')))['com.microsoft.QLinearConv']).toBe(2);
  });

  it('an op that cannot be quantized stays float with the reason', () => {
    const m = tinyClassifier();
    const g = m.graph;
    // conv2's weight becomes a computed value (a Relu of the constant): not a constant weight.
    const relu = g.addNode({ name: 'w_relu', opType: 'Relu', inputs: ['conv2.weight'], outputs: ['w2_computed'] });
    g.setInput(g.node('conv2')!, 1, null, relu.outputs[0]);
    const plan = planQuantization(m, { perChannel: true, activation: 'uint8' });
    expect(plan.float).toEqual([{ node: 'conv2', op: 'Conv', why: 'its weight w2_computed is not a constant' }]);
    expect(plan.nodes.map((p) => p.node)).toEqual(['conv1', 'fc']);
  });

  it('activation scale and zero point: range widened to contain 0, zero exact', () => {
    expect(activationParams({ min: 0, max: 2.55 }, 'uint8')).toEqual({ scale: Math.fround(0.01), zero_point: 0 });
    expect(activationParams({ min: -1, max: 3 }, 'uint8')).toEqual({ scale: Math.fround(4 / 255), zero_point: 64 });
    expect(activationParams({ min: -1, max: 3 }, 'int8')).toEqual({ scale: Math.fround(4 / 255), zero_point: -64 });
    expect(activationParams({ min: 1, max: 2 }, 'uint8').zero_point).toBe(0);
    expect([...weightScales(Float32Array.from([1, -2, 0, 0]), [2, 2], 0, true)]).toEqual([Math.fround(2 / 127), 1]);
  });
});
