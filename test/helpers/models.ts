/** Small classifier graphs built in code, with hand-countable parameters and MACs. */
import { createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { seededFloats } from './ort.js';

/**
 * x[N,3,8,8] -> Conv 3x3 (4 out, pad 1, bias) -> Relu -> Conv 1x1 (8 out, stride 2, no bias)
 * -> GlobalAveragePool -> Flatten -> Gemm (transB, 10 classes) -> y[N,10].
 * Params 108+4 + 32 + 80+10 = 234. MACs at batch 1: 4*8*8*27 + 8*4*4*4 + 8*10 = 6912 + 512 + 80 = 7504.
 */
export function tinyClassifier(batch: number | string = 'N'): Model {
  const m = createModel(13);
  const g = m.graph;
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: [batch, 3, 8, 8] }];
  const w1 = g.addInitializer('conv1.weight', DataType.FLOAT, [4, 3, 3, 3], seededFloats(108, 11));
  const b1 = g.addInitializer('conv1.bias', DataType.FLOAT, [4], seededFloats(4, 12));
  const w2 = g.addInitializer('conv2.weight', DataType.FLOAT, [8, 4, 1, 1], seededFloats(32, 13));
  const fw = g.addInitializer('fc.weight', DataType.FLOAT, [10, 8], seededFloats(80, 14));
  const fb = g.addInitializer('fc.bias', DataType.FLOAT, [10], seededFloats(10, 15));
  g.addNode({ name: 'conv1', opType: 'Conv', inputs: ['x', w1, b1], outputs: ['c1'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
  g.addNode({ name: 'relu1', opType: 'Relu', inputs: ['c1'], outputs: ['r1'] });
  g.addNode({ name: 'conv2', opType: 'Conv', inputs: ['r1', w2], outputs: ['c2'], attrs: { kernel_shape: [1, 1], strides: [2, 2] } });
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['c2'], outputs: ['p'] });
  g.addNode({ name: 'flatten', opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } });
  g.addNode({ name: 'fc', opType: 'Gemm', inputs: ['f', fw, fb], outputs: ['y'], attrs: { transB: 1 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: [batch, 10] }];
  return m;
}
