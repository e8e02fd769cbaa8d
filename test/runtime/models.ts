/** Small classifiers for the runner tests, built in code with the IR. */
import { createModel, saveModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { seededFloats } from '../helpers/ort.js';

export interface ClassifierOptions {
  /** Input element type: a uint8 image (cast and scaled inside, like a model with baked preprocessing) or float32. */
  input: 'uint8' | 'float32';
  batch?: number | string;
  size?: number;
  classes?: number;
  /** Conv width: more channels make each run slower (for the interruption tests). */
  width?: number;
  /** Add a second output (the pooled features) to check output order. */
  twoOutputs?: boolean;
}

/**
 * x[N,3,S,S] -> (Cast, *1/255 for uint8) -> Conv 3x3 (width, pad 1) -> Relu -> Conv 3x3 stride 2 -> Relu
 * -> GlobalAveragePool -> Flatten -> Gemm -> Softmax -> probs[N,classes] (+ feats[N,width]).
 */
export function classifier(o: ClassifierOptions): Model {
  const m = createModel(13);
  const g = m.graph;
  const S = o.size ?? 32;
  const W = o.width ?? 8;
  const K = o.classes ?? 10;
  const batch = o.batch ?? 'N';
  g.inputs = [{ name: 'image', elemType: o.input === 'uint8' ? DataType.UINT8 : DataType.FLOAT, shape: [batch, 3, S, S] }];
  let x = 'image';
  if (o.input === 'uint8') {
    g.addNode({ opType: 'Cast', inputs: ['image'], outputs: ['xf'], attrs: { to: DataType.FLOAT } });
    const scale = g.addInitializer('scale', DataType.FLOAT, [], [1 / 255]);
    g.addNode({ opType: 'Mul', inputs: ['xf', scale], outputs: ['xs'] });
    x = 'xs';
  }
  const w1 = g.addInitializer('w1', DataType.FLOAT, [W, 3, 3, 3], seededFloats(W * 27, 21));
  const b1 = g.addInitializer('b1', DataType.FLOAT, [W], seededFloats(W, 22));
  const w2 = g.addInitializer('w2', DataType.FLOAT, [W, W, 3, 3], seededFloats(W * W * 9, 23).map((v) => v / Math.sqrt(W)));
  const fw = g.addInitializer('fw', DataType.FLOAT, [K, W], seededFloats(K * W, 24).map((v) => v * 4));
  const fb = g.addInitializer('fb', DataType.FLOAT, [K], seededFloats(K, 25));
  g.addNode({ opType: 'Conv', inputs: [x, w1, b1], outputs: ['c1'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
  g.addNode({ opType: 'Relu', inputs: ['c1'], outputs: ['r1'] });
  g.addNode({ opType: 'Conv', inputs: ['r1', w2], outputs: ['c2'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] } });
  g.addNode({ opType: 'Relu', inputs: ['c2'], outputs: ['r2'] });
  g.addNode({ opType: 'GlobalAveragePool', inputs: ['r2'], outputs: ['p'] });
  g.addNode({ opType: 'Flatten', inputs: ['p'], outputs: ['feats'], attrs: { axis: 1 } });
  g.addNode({ opType: 'Gemm', inputs: ['feats', fw, fb], outputs: ['logits'], attrs: { transB: 1 } });
  g.addNode({ opType: 'Softmax', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } });
  g.outputs = [{ name: 'probs', elemType: DataType.FLOAT, shape: [batch, K] }];
  if (o.twoOutputs) g.outputs.push({ name: 'feats', elemType: DataType.FLOAT, shape: [batch, W] });
  return m;
}

export function saveClassifier(file: string, o: ClassifierOptions): string {
  saveModel(classifier(o), file);
  return file;
}
