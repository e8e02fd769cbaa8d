/** Small float-input models for the bake-preprocess / append-softmax tests. */
import type { VdspParams } from '../../builders/config/types.js';
import type { Dim } from '../../builders/ir/graph.js';
import { createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { seededFloats } from './ort.js';

export interface ConvSpec {
  outC?: number;
  kernel?: number;
  pads?: number;
  stride?: number;
  group?: number;
  bias?: boolean;
  seed?: number;
}

/** Adds Conv `name` reading `x` (3 input channels / group) and returns its output value. */
function conv(m: Model, name: string, x: string, s: ConvSpec): string {
  const g = m.graph;
  const { outC = 4, kernel = 3, pads = 1, stride = 1, group = 1, bias = true, seed = 1 } = s;
  const w = g.addInitializer(`${name}.weight`, DataType.FLOAT, [outC, 3 / group, kernel, kernel], seededFloats(outC * (3 / group) * kernel * kernel, seed));
  const inputs = [x, w];
  if (bias) inputs.push(g.addInitializer(`${name}.bias`, DataType.FLOAT, [outC], seededFloats(outC, seed + 100)));
  g.addNode({ name, opType: 'Conv', inputs, outputs: [`${name}_out`], attrs: { kernel_shape: [kernel, kernel], pads: [pads, pads, pads, pads], strides: [stride, stride], group } });
  return `${name}_out`;
}

function base(h: number, w: number, batch: Dim, opset: number): Model {
  const m = createModel(opset);
  m.graph.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: [batch, 3, h, w] }];
  return m;
}

/** x[batch,3,h,w] -> one Conv per spec (each a graph output y0, y1, ...): the raw conv maps, borders included. */
export function convsModel(h: number, w: number, specs: ConvSpec[], batch: Dim = 'N', opset = 13): Model {
  const m = base(h, w, batch, opset);
  specs.forEach((s, i) => {
    const out = conv(m, `/stem${i}/conv`, 'x', { seed: i * 7 + 1, ...s });
    m.graph.addNode({ name: `/stem${i}/relu`, opType: 'Relu', inputs: [out], outputs: [`y${i}`] });
    m.graph.outputs.push({ name: `y${i}`, elemType: DataType.FLOAT, shape: undefined });
  });
  return m;
}

/** x -> Identity -> y: the baked graph's output is the preprocessed tensor itself. */
export function identityModel(h: number, w: number, batch: Dim = 'N', opset = 13, dtype = DataType.FLOAT): Model {
  const m = base(h, w, batch, opset);
  m.graph.inputs[0].elemType = dtype;
  m.graph.addNode({ name: 'identity', opType: 'Identity', inputs: ['x'], outputs: ['y'] });
  m.graph.outputs = [{ name: 'y', elemType: dtype, shape: [batch, 3, h, w] }];
  return m;
}

/** x -> Relu -> Conv: the input does not feed a Conv directly. */
export function reluFirstModel(h: number, w: number): Model {
  const m = base(h, w, 'N', 13);
  m.graph.addNode({ name: 'relu', opType: 'Relu', inputs: ['x'], outputs: ['r'] });
  conv(m, '/conv', 'r', {});
  m.graph.addNode({ name: 'out', opType: 'Identity', inputs: ['/conv_out'], outputs: ['y'] });
  m.graph.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: undefined }];
  return m;
}

/** x[N,3,h,w] -> Conv -> GlobalAveragePool -> Flatten -> Gemm -> y[N,classes] (and optionally a Softmax). */
export function classifierModel(h: number, w: number, classes = 10, opset = 13): Model {
  const m = base(h, w, 'N', opset);
  const g = m.graph;
  const c = conv(m, '/stem/conv', 'x', { outC: 8, stride: 2 });
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: [c], outputs: ['p'] });
  g.addNode({ name: 'flatten', opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } });
  const fw = g.addInitializer('fc.weight', DataType.FLOAT, [classes, 8], seededFloats(classes * 8, 5).map((v) => v * 4));
  const fb = g.addInitializer('fc.bias', DataType.FLOAT, [classes], seededFloats(classes, 6));
  g.addNode({ name: 'fc', opType: 'Gemm', inputs: ['f', fw, fb], outputs: ['y'], attrs: { transB: 1 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: ['N', classes] }];
  return m;
}

/** The vdsp params with the input size set to h x w (the graph is built for one input size). */
export function withInputSize(p: VdspParams, h: number, w: number): VdspParams {
  return { ...p, OpConfig: { ...p.OpConfig, IimageHeight: h, IimageWidth: w, IimageHeightPitch: h, IimageWidthPitch: w } };
}
