/**
 * Static shape inference for the ops image classifiers use, enough to count MACs and to check a
 * preprocessing plan against the network input. Symbolic dims (batch) stay symbolic; an op we do not know
 * leaves its outputs unknown rather than guessing.
 */
import { attrInt, attrInts, type Dim, type Graph, type Node } from './graph.js';

export type Shape = Dim[];

const UNARY = new Set(['Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Clip', 'HardSigmoid', 'HardSwish', 'Softmax', 'LogSoftmax', 'Identity', 'Cast', 'BatchNormalization', 'Dropout', 'Erf', 'Neg', 'Abs', 'Exp', 'Sqrt', 'Round', 'Floor', 'QuantizeLinear', 'DequantizeLinear', 'Elu', 'Selu', 'PRelu', 'Mish', 'Gelu', 'Sin', 'Cos']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Equal', 'Greater', 'Less', 'Where', 'And', 'Or']);

function broadcast(shapes: Shape[]): Shape | undefined {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i];
      if (v === undefined || v === 1) continue;
      if (d === 1) d = v;
      else if (typeof d === 'number' && typeof v === 'number' && d !== v) return undefined;
    }
    out.push(d);
  }
  return out;
}

function spatial(n: Node, input: Shape, outChannels: Dim, kernel: number[]): Shape {
  const k = kernel.length;
  const strides = attrInts(n, 'strides', Array(k).fill(1));
  const dil = attrInts(n, 'dilations', Array(k).fill(1));
  const pads = attrInts(n, 'pads', Array(2 * k).fill(0));
  const autoPad = n.attrs.auto_pad?.kind === 'string' ? n.attrs.auto_pad.value : 'NOTSET';
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const out: Shape = [input[0], outChannels];
  for (let i = 0; i < k; i++) {
    const x = input[2 + i];
    if (typeof x !== 'number') {
      out.push(-1);
      continue;
    }
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out.push(Math.ceil(x / strides[i]));
      continue;
    }
    const eff = dil[i] * (kernel[i] - 1) + 1;
    const span = x + (autoPad === 'VALID' ? 0 : pads[i] + pads[i + k]) - eff;
    out.push((ceil ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1);
  }
  return out;
}

/** Output shapes of one node given its input shapes, or undefined where unknown. */
function inferNode(g: Graph, n: Node, shapeOf: (v: string) => Shape | undefined): (Shape | undefined)[] {
  const s0 = n.inputs[0] ? shapeOf(n.inputs[0]) : undefined;
  const op = n.domain === '' ? n.opType : '';
  if (UNARY.has(op)) return [s0];
  if (BINARY.has(op)) {
    const shapes = n.inputs.map(shapeOf);
    return [shapes.every((s) => s) ? broadcast(shapes as Shape[]) : undefined];
  }
  if (!s0) return [];
  switch (op) {
    case 'Conv': {
      const w = shapeOf(n.inputs[1]);
      if (!w) return [];
      const kernel = attrInts(n, 'kernel_shape', w.slice(2) as number[]);
      return [spatial(n, s0, w[0], kernel)];
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool':
      return [spatial(n, s0, s0[1], attrInts(n, 'kernel_shape', []))];
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      return [[s0[0], s0[1], ...s0.slice(2).map(() => 1)]];
    case 'Flatten': {
      const axis = attrInt(n, 'axis', 1);
      const prod = (dims: Shape) => dims.reduce<Dim>((a, b) => (typeof a === 'number' && typeof b === 'number' ? a * b : -1), 1);
      return [[prod(s0.slice(0, axis)), prod(s0.slice(axis))]];
    }
    case 'Reshape': {
      const target = g.constantInts(n.inputs[1]);
      if (!target) return [];
      const known = s0.every((d) => typeof d === 'number' && d >= 0);
      const total = known ? (s0 as number[]).reduce((a, b) => a * b, 1) : undefined;
      const out: Shape = target.map((d, i) => (d === 0 ? s0[i] : d));
      const neg = out.indexOf(-1);
      if (neg >= 0) {
        const rest = out.reduce<number>((a, d, i) => (i === neg ? a : typeof d === 'number' ? a * d : NaN), 1);
        if (total !== undefined && Number.isFinite(rest)) out[neg] = total / rest;
        else if (typeof s0[0] === 'string' && neg === 0) out[0] = s0[0];
      }
      return [out];
    }
    case 'Gemm': {
      const b = shapeOf(n.inputs[1]);
      if (!b) return [];
      const m = attrInt(n, 'transA', 0) ? s0[1] : s0[0];
      const nn = attrInt(n, 'transB', 0) ? b[0] : b[1];
      return [[m, nn]];
    }
    case 'MatMul': {
      const b = shapeOf(n.inputs[1]);
      if (!b || s0.length < 2 || b.length < 2) return [];
      const batch = broadcast([s0.slice(0, -2), b.slice(0, -2)]) ?? [];
      return [[...batch, s0[s0.length - 2], b[b.length - 1]]];
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm', s0.map((_, i) => s0.length - 1 - i));
      return [perm.map((p) => s0[p])];
    }
    case 'Pad': {
      const pads = n.inputs[1] ? g.constantInts(n.inputs[1]) : attrInts(n, 'pads', []);
      if (!pads) return [];
      const r = s0.length;
      return [s0.map((d, i) => (typeof d === 'number' ? d + pads[i] + pads[i + r] : d))];
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      const axes = (n.inputs[1] ? g.constantInts(n.inputs[1]) : attrInts(n, 'axes', [])) ?? [];
      if (op === 'Squeeze') {
        const norm = axes.map((a) => (a < 0 ? a + s0.length : a));
        return [s0.filter((d, i) => (norm.length ? !norm.includes(i) : d !== 1))];
      }
      const r = s0.length + axes.length;
      const norm = axes.map((a) => (a < 0 ? a + r : a));
      const out: Shape = [];
      let j = 0;
      for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : s0[j++]);
      return [out];
    }
    case 'Concat': {
      const shapes = n.inputs.map(shapeOf);
      if (!shapes.every((s) => s)) return [];
      const axis = (attrInt(n, 'axis', 0) + s0.length) % s0.length;
      const out = [...s0];
      out[axis] = (shapes as Shape[]).reduce<Dim>((a, s) => (typeof a === 'number' && typeof s[axis] === 'number' ? a + (s[axis] as number) : -1), 0);
      return [out];
    }
    case 'Slice': {
      const starts = g.constantInts(n.inputs[1]);
      const ends = g.constantInts(n.inputs[2]);
      if (!starts || !ends) return [];
      const axes = n.inputs[3] ? g.constantInts(n.inputs[3]) : starts.map((_, i) => i);
      const steps = n.inputs[4] ? g.constantInts(n.inputs[4]) : starts.map(() => 1);
      if (!axes || !steps) return [];
      const out = [...s0];
      axes.forEach((a, i) => {
        const ax = a < 0 ? a + s0.length : a;
        const d = s0[ax];
        if (typeof d !== 'number') return;
        const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
        out[ax] = Math.max(0, Math.ceil((clamp(ends[i]) - clamp(starts[i])) / steps[i]));
      });
      return [out];
    }
    case 'Resize': {
      const sizes = n.inputs[3] ? g.constantInts(n.inputs[3]) : undefined;
      if (sizes?.length) return [s0.map((d, i) => (i < 2 ? d : sizes[i]))];
      const scales = n.inputs[2] ? g.constantFloats(n.inputs[2]) : undefined;
      if (scales?.length === s0.length) return [s0.map((d, i) => (typeof d === 'number' && d >= 0 ? Math.floor(d * scales[i]) : d))];
      return [];
    }
    case 'ReduceMean':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceSum':
    case 'ReduceProd':
    case 'ReduceL2': {
      // Opset 18 moved axes (ReduceSum: 13) from an attribute to an input.
      const axes = n.inputs[1] ? g.constantInts(n.inputs[1]) : attrInts(n, 'axes', []);
      if (!axes) return [];
      const keep = attrInt(n, 'keepdims', 1) === 1;
      const norm = axes.length ? axes.map((a) => (a < 0 ? a + s0.length : a)) : s0.map((_, i) => i);
      return [keep ? s0.map((d, i) => (norm.includes(i) ? 1 : d)) : s0.filter((_, i) => !norm.includes(i))];
    }
    case 'Gather': {
      // The baked BILINEAR_CV resize picks rows and columns with Gather.
      const indices = shapeOf(n.inputs[1]);
      if (!indices) return [];
      const a = attrInt(n, 'axis', 0);
      const ax = a < 0 ? a + s0.length : a;
      return [[...s0.slice(0, ax), ...indices, ...s0.slice(ax + 1)]];
    }
    case 'Shape':
      return [[s0.length]];
    default:
      return [];
  }
}

/** Shapes of every value we can infer, from graph inputs, initializers and value_info. */
export function inferShapes(g: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const v of g.inputs) if (v.shape) shapes.set(v.name, v.shape);
  for (const [name, t] of g.initializers) shapes.set(name, t.dims);
  const shapeOf = (v: string): Shape | undefined => {
    const s = shapes.get(v);
    if (s) return s;
    const c = g.constant(v);
    return c ? c.dims : g.valueInfo.get(v)?.shape;
  };
  for (const n of g.topoSort()) {
    const outs = inferNode(g, n, shapeOf);
    n.outputs.forEach((o, i) => {
      const s = outs[i] ?? g.valueInfo.get(o)?.shape;
      if (s) shapes.set(o, s);
    });
  }
  return shapes;
}
