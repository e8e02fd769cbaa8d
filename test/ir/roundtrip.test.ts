import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createModel, decodeModel, encodeModel, loadModel, saveModel } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { floatTensor, runOrt, seededFloats } from '../helpers/ort.js';

function smallConvNet() {
  const m = createModel(13);
  const g = m.graph;
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 8, 8] }];
  const w = g.addInitializer('w', DataType.FLOAT, [4, 3, 3, 3], seededFloats(108, 1));
  const b = g.addInitializer('b', DataType.FLOAT, [4], seededFloats(4, 2));
  g.addNode({ opType: 'Conv', inputs: ['x', w, b], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } });
  g.addNode({ opType: 'Relu', inputs: ['c'], outputs: ['y'] });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: ['N', 4, 8, 8] }];
  return m;
}

describe('IR round trip', () => {
  it('load + save without passes is bit-identical in onnxruntime', async () => {
    const original = encodeModel(smallConvNet());
    const reloaded = encodeModel(decodeModel(original, 'mem.onnx'));
    const x = floatTensor([2, 3, 8, 8], 7);
    const a = (await runOrt(original, { x })).y.data as Float32Array;
    const b = (await runOrt(reloaded, { x })).y.data as Float32Array;
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });

  it('moves weights to an external data file above the limit and reads them back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-ext-'));
    const file = path.join(dir, 'm.onnx');
    const res = saveModel(smallConvNet(), file, { externalDataLimit: 100 });
    expect(res.externalDataFile).toBe('m.onnx.data');
    const back = loadModel(file);
    expect(Array.from(back.graph.initializers.get('w')!.data as Float32Array)).toEqual(Array.from(seededFloats(108, 1)));
    const x = floatTensor([1, 3, 8, 8], 3);
    const viaOrt = (await runOrt(file, { x })).y.data as Float32Array;
    const direct = (await runOrt(smallConvNet(), { x })).y.data as Float32Array;
    expect(Array.from(viaOrt)).toEqual(Array.from(direct));
    void ort;
  });
});
