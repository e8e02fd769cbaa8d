/** Static-batch graphs for the make-batch-dynamic tests: exporter-style heads, an SE block, ops that must be refused. */
import type { AttrValue, Dim, Graph } from '../../builders/ir/graph.js';
import { createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { seededFloats } from './ort.js';

function start(batch: Dim, dims: number[], opset = 13): { m: Model; g: Graph } {
  const m = createModel(opset);
  m.graph.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: [batch, ...dims] }];
  return { m, g: m.graph };
}

const floats = (g: Graph, name: string, dims: number[], seed: number) => g.addInitializer(name, DataType.FLOAT, dims, seededFloats(dims.reduce((a, b) => a * b, 1), seed));
const ints = (g: Graph, name: string, values: number[], dims = [values.length]) => g.addInitializer(name, DataType.INT64, dims, values);

/** Conv (bias) reading `x` with `inC` channels; pad keeps the size for odd kernels. */
function conv(g: Graph, name: string, x: string, inC: number, outC: number, kernel: number, seed: number): string {
  const w = floats(g, `${name}.weight`, [outC, inC, kernel, kernel], seed);
  const b = floats(g, `${name}.bias`, [outC], seed + 1);
  const p = (kernel - 1) / 2;
  g.addNode({ name, opType: 'Conv', inputs: [x, w, b], outputs: [`${name}_out`], attrs: { kernel_shape: [kernel, kernel], pads: [p, p, p, p] } });
  return `${name}_out`;
}

/** Gemm(transB=1) classifier head: [b, inC] -> y [b, 5]. */
function head(g: Graph, x: string, inC: number, batch: Dim): void {
  const w = floats(g, 'fc.weight', [5, inC], 41);
  const b = floats(g, 'fc.bias', [5], 42);
  g.addNode({ name: 'fc', opType: 'Gemm', inputs: [x, w, b], outputs: ['y'], attrs: { transB: 1 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: [batch, 5] }];
}

/** x[b,3,8,8] -> Conv 3x3 -> Relu -> GlobalAveragePool -> Reshape(shape [1,-1]) -> Gemm -> y[b,5]: a static export's flatten. */
export function reshapeHeadModel(batch: Dim = 1): Model {
  const { m, g } = start(batch, [3, 8, 8]);
  const c = conv(g, 'conv', 'x', 3, 4, 3, 1);
  g.addNode({ name: 'relu', opType: 'Relu', inputs: [c], outputs: ['r'] });
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] });
  g.addNode({ name: 'flatten', opType: 'Reshape', inputs: ['p', ints(g, 'flatten.shape', [1, -1])], outputs: ['f'] });
  head(g, 'f', 4, batch);
  return m;
}

/**
 * x[b,3,8,8] -> Conv 3x3 (8) -> Add [1,8,1,1] -> Relu = a; SE: AveragePool 8x8 -> Conv 1x1 (2) -> Relu -> Conv 1x1 (8)
 * -> Sigmoid -> Reshape(shape [1,8,1,1]) = gate; a * gate -> Mul [8,1,1] -> GlobalAveragePool -> Flatten -> Gemm -> y[b,5].
 */
export function seModel(batch: Dim = 1): Model {
  const { m, g } = start(batch, [3, 8, 8]);
  const c = conv(g, 'conv', 'x', 3, 8, 3, 1);
  g.addNode({ name: 'shift', opType: 'Add', inputs: [c, floats(g, 'shift.b', [1, 8, 1, 1], 3)], outputs: ['s'] });
  g.addNode({ name: 'relu', opType: 'Relu', inputs: ['s'], outputs: ['a'] });
  g.addNode({ name: 'se/pool', opType: 'AveragePool', inputs: ['a'], outputs: ['se_p'], attrs: { kernel_shape: [8, 8], strides: [8, 8] } });
  const down = conv(g, 'se/down', 'se_p', 8, 2, 1, 5);
  g.addNode({ name: 'se/relu', opType: 'Relu', inputs: [down], outputs: ['se_r'] });
  const up = conv(g, 'se/up', 'se_r', 2, 8, 1, 7);
  g.addNode({ name: 'se/sigmoid', opType: 'Sigmoid', inputs: [up], outputs: ['se_s'] });
  g.addNode({ name: 'se/reshape', opType: 'Reshape', inputs: ['se_s', ints(g, 'se.shape', [1, 8, 1, 1])], outputs: ['gate'] });
  g.addNode({ name: 'se/mul', opType: 'Mul', inputs: ['a', 'gate'], outputs: ['se_out'] });
  g.addNode({ name: 'scale', opType: 'Mul', inputs: ['se_out', floats(g, 'scale.w', [8, 1, 1], 9)], outputs: ['sc'] });
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: ['sc'], outputs: ['p'] });
  g.addNode({ name: 'flatten', opType: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } });
  head(g, 'f', 8, batch);
  return m;
}

/** x[b,3,8,8] -> Conv -> GlobalAveragePool -> Reshape(Concat(Unsqueeze(Gather(Shape, 0)), [-1])) -> Gemm: reads the batch. */
export function shapeFlattenModel(batch: Dim = 1): Model {
  const { m, g } = start(batch, [3, 8, 8]);
  const c = conv(g, 'conv', 'x', 3, 4, 3, 1);
  g.addNode({ name: 'gap', opType: 'GlobalAveragePool', inputs: [c], outputs: ['p'] });
  g.addNode({ name: 'shape', opType: 'Shape', inputs: ['p'], outputs: ['shp'] });
  g.addNode({ name: 'gather', opType: 'Gather', inputs: ['shp', ints(g, 'zero', [0], [])], outputs: ['n'], attrs: { axis: 0 } });
  g.addNode({ name: 'unsqueeze', opType: 'Unsqueeze', inputs: ['n', ints(g, 'axes0', [0])], outputs: ['n1'] });
  g.addNode({ name: 'concat', opType: 'Concat', inputs: ['n1', ints(g, 'minus1', [-1])], outputs: ['target'], attrs: { axis: 0 } });
  g.addNode({ name: 'flatten', opType: 'Reshape', inputs: ['p', 'target'], outputs: ['f'] });
  head(g, 'f', 4, batch);
  return m;
}

/** x[1,3,8,8] -> Conv -> Relu -> Concat(r, r, axis 0) -> y[2,4,8,8]. */
export function concatBatchModel(): Model {
  const { m, g } = start(1, [3, 8, 8]);
  const c = conv(g, 'conv', 'x', 3, 4, 3, 1);
  g.addNode({ name: 'relu', opType: 'Relu', inputs: [c], outputs: ['r'] });
  g.addNode({ name: 'concat', opType: 'Concat', inputs: ['r', 'r'], outputs: ['y'], attrs: { axis: 0 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: [2, 4, 8, 8] }];
  return m;
}

/**
 * Every other allow-listed op in a configuration that keeps the batch on axis 0 (opset 13), x[b,3,8,8] ->
 * Pad(H,W by 1) -> Conv 3x3 valid -> BatchNormalization -> LeakyRelu = l; l * GlobalMaxPool(l) (two batch
 * operands) -> Slice(H,W 1:7) -> Resize(scales 1,1,2,2 nearest) -> MaxPool 2x2 = q; Concat(q, Clip(q), axis 1)
 * -> HardSigmoid -> Tanh -> ConvTranspose 2x2 -> Transpose(0,2,3,1) -> ReduceMean(axis 1, keepdims 0)
 * -> Unsqueeze(1) -> Squeeze(1) -> ReduceSum(axis 1) -> Sub [8] -> Div [1,1,8] -> Reshape(shape [-1,8])
 * -> MatMul [8,5] -> Add [5] -> Cast -> Identity -> Dropout -> Softmax -> y[b,5]. Resize and the Reduce ops get value_info.
 */
export function manyOpsModel(batch: Dim = 1): Model {
  const { m, g } = start(batch, [3, 8, 8]);
  let v = 'x';
  // `shape`: value_info, as an exporter's shape inference writes it (rebake's own does not cover Resize by scales or Reduce*).
  const op = (opType: string, inputs: string[], attrs?: Record<string, AttrValue | number | number[] | string>, shape?: number[]) => {
    const out = g.uniqueName(`${opType.toLowerCase()}_out`);
    g.addNode({ name: g.uniqueName(opType.toLowerCase()), opType, inputs, outputs: [out], attrs });
    if (shape) g.valueInfo.set(out, { name: out, elemType: DataType.FLOAT, shape: [batch, ...shape] });
    return out;
  };
  v = op('Pad', [v, ints(g, 'pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' });
  v = op('Conv', [v, floats(g, 'conv.w', [4, 3, 3, 3], 1)], { kernel_shape: [3, 3] });
  const bn = [floats(g, 'bn.scale', [4], 2), floats(g, 'bn.bias', [4], 3), floats(g, 'bn.mean', [4], 4)];
  bn.push(g.addInitializer('bn.var', DataType.FLOAT, [4], [0.5, 1, 1.5, 2]));
  v = op('BatchNormalization', [v, ...bn], { epsilon: { kind: 'float', value: 1e-3 } });
  const l = op('LeakyRelu', [v], { alpha: { kind: 'float', value: 0.1 } });
  v = op('Mul', [l, op('GlobalMaxPool', [l])]);
  v = op('Slice', [v, ints(g, 'starts', [1, 1]), ints(g, 'ends', [7, 7]), ints(g, 'slice.axes', [2, 3])]);
  v = op('Resize', [v, '', g.addInitializer('scales', DataType.FLOAT, [4], [1, 1, 2, 2])], { mode: 'nearest' }, [4, 12, 12]);
  const q = op('MaxPool', [v], { kernel_shape: [2, 2], strides: [2, 2] });
  const clipped = op('Clip', [q, g.addInitializer('lo', DataType.FLOAT, [], [-0.2]), g.addInitializer('hi', DataType.FLOAT, [], [0.3])]);
  v = op('Concat', [q, clipped], { axis: 1 });
  v = op('Tanh', [op('HardSigmoid', [v])]);
  v = op('ConvTranspose', [v, floats(g, 'deconv.w', [8, 8, 2, 2], 5)], { kernel_shape: [2, 2] });
  v = op('Transpose', [v], { perm: [0, 2, 3, 1] });
  v = op('ReduceMean', [v], { axes: [1], keepdims: 0 }, [7, 8]);
  v = op('Squeeze', [op('Unsqueeze', [v, ints(g, 'unsq.axes', [1])]), ints(g, 'sq.axes', [1])]);
  v = op('ReduceSum', [v, ints(g, 'sum.axes', [1])], { keepdims: 1 }, [1, 8]);
  v = op('Sub', [v, floats(g, 'sub.b', [8], 6)]);
  v = op('Div', [v, g.addInitializer('div.b', DataType.FLOAT, [1, 1, 8], [1, 2, 3, 4, 5, 6, 7, 8])]);
  v = op('Reshape', [v, ints(g, 'rows', [-1, 8])]);
  v = op('Add', [op('MatMul', [v, floats(g, 'mm.w', [8, 5], 7)]), floats(g, 'mm.b', [5], 8)]);
  v = op('Dropout', [op('Identity', [op('Cast', [v], { to: DataType.FLOAT })])]);
  g.addNode({ name: 'softmax', opType: 'Softmax', inputs: [v], outputs: ['y'], attrs: { axis: -1 } });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: [batch, 5] }];
  return m;
}

export interface SingleOp {
  opType: string;
  attrs?: Record<string, AttrValue | number | number[] | string>;
  /** Extra inputs after x: int64 constants (number[]), float constants ({floats, dims}) or '' (absent). */
  inputs?: (number[] | { floats: number[]; dims: number[] } | '')[];
  /** Input dims after the batch (default [4,4,4]). */
  dims?: number[];
  batch?: Dim;
  outputs?: number;
  opset?: number;
}

/** x[batch, ...dims] -> one op -> y (and y1...): for the cases the pass must refuse. */
export function singleOpModel(s: SingleOp): Model {
  const { m, g } = start(s.batch ?? 1, s.dims ?? [4, 4, 4], s.opset);
  const inputs = ['x'];
  (s.inputs ?? []).forEach((c, i) => {
    if (c === '') inputs.push('');
    else if (Array.isArray(c)) inputs.push(ints(g, `c${i}`, c));
    else inputs.push(g.addInitializer(`c${i}`, DataType.FLOAT, c.dims, c.floats));
  });
  const outputs = Array.from({ length: s.outputs ?? 1 }, (_, i) => (i ? `y${i}` : 'y'));
  g.addNode({ name: s.opType.toLowerCase(), opType: s.opType, inputs, outputs, attrs: s.attrs });
  g.outputs = outputs.map((name) => ({ name, elemType: DataType.FLOAT, shape: undefined }));
  return m;
}
