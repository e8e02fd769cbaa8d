/** Tensors stored in typed fields (float_data, int32_data, int64_data) and raw_data decode to the same values. */
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../builders/ir/model.js';
import { DataType, floatToHalf, halfToFloat, toFloat32, toNumbers } from '../../core/tensor.js';
import { runOrt } from '../helpers/ort.js';

const { onnx } = onnxProto;

const VALUES = [1.5, -2.25, 0, 65504, -0.000061035156, 3];

/** One initializer per dtype, each in its typed field, all cast to float and concatenated into the output. */
function typedFieldModel(): Uint8Array {
  const halfBits = VALUES.map(floatToHalf);
  const inits: onnxProto.onnx.ITensorProto[] = [
    { name: 'f32', dataType: DataType.FLOAT, dims: [6], floatData: VALUES },
    { name: 'f16', dataType: DataType.FLOAT16, dims: [6], int32Data: halfBits },
    { name: 'i64', dataType: DataType.INT64, dims: [6], int64Data: [1, -2, 3, -4, 5, 2 ** 40] },
    { name: 'i32', dataType: DataType.INT32, dims: [6], int32Data: [7, -8, 9, -10, 11, -12] },
    { name: 'i8', dataType: DataType.INT8, dims: [6], int32Data: [-128, -1, 0, 1, 2, 127] },
    { name: 'u8', dataType: DataType.UINT8, dims: [6], int32Data: [0, 1, 2, 128, 254, 255] },
  ];
  const nodes = inits.map((t) => ({ opType: 'Cast', input: [t.name!], output: [`${t.name}_f`], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT }] }));
  nodes.push({ opType: 'Concat', input: inits.map((t) => `${t.name}_f`), output: ['y'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'typed-fields-test',
    graph: {
      name: 'g',
      node: nodes,
      initializer: inits,
      output: [{ name: 'y', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 36 }] } } } }],
    },
  }).finish();
}

describe('tensor fields', () => {
  it('decodes every supported dtype from typed fields', () => {
    const m = decodeModel(typedFieldModel(), 'typed.onnx');
    const g = m.graph;
    expect(Array.from(toFloat32(g.initializers.get('f32')!))).toEqual(VALUES.map((v) => Math.fround(v)));
    expect(Array.from(toFloat32(g.initializers.get('f16')!))).toEqual(VALUES.map((v) => halfToFloat(floatToHalf(v))));
    expect(toNumbers(g.initializers.get('i64')!)).toEqual([1, -2, 3, -4, 5, 2 ** 40]);
    expect(toNumbers(g.initializers.get('i8')!)).toEqual([-128, -1, 0, 1, 2, 127]);
    expect(toNumbers(g.initializers.get('u8')!)).toEqual([0, 1, 2, 128, 254, 255]);
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(m.producerName).toBe('typed-fields-test');
  });

  it('re-encodes to raw_data with identical results in onnxruntime, keeping IR version and opsets', async () => {
    const original = typedFieldModel();
    const resaved = encodeModel(decodeModel(original, 'typed.onnx'));
    const a = (await runOrt(original, {})).y.data as Float32Array;
    const b = (await runOrt(resaved, {})).y.data as Float32Array;
    expect(Array.from(b)).toEqual(Array.from(a));
    const back = onnx.ModelProto.decode(resaved);
    expect(Number(back.irVersion)).toBe(8);
    expect(back.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(back.graph!.initializer!.every((t) => (t.rawData?.length ?? 0) > 0 && !t.floatData?.length && !t.int32Data?.length)).toBe(true);
  });

  it('fp16 conversion rounds to nearest even', () => {
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next half: ties to even (1)
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds up to infinity
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
  });
});
