/**
 * Evaluate small integer ops whose inputs are all constants, as ONNX defines them. The PyTorch exporter
 * (opset >= 11, BN-kept exports) computes an F.pad pads vector at run time from constants:
 * ConstantOfShape -> Concat -> Reshape -> Slice(step -1) -> Transpose -> Reshape -> Cast. Folding it gives
 * the Pad a constant pads input that the re-parameterization passes can read.
 */
import { attrInt, attrInts, type Graph, type Node } from '../../ir/graph.js';
import { DataType, elementCount, toNumbers } from '../../../core/tensor.js';

export interface IntTensor {
  dataType: DataType;
  dims: number[];
  data: number[];
}

const INT_TYPES = new Set([DataType.INT64, DataType.INT32]);
/** Larger integer tensors are not shape arithmetic; they are left to the runtime. */
const MAX_ELEMENTS = 4096;

export const INT_EVAL_OPS = new Set(['ConstantOfShape', 'Reshape', 'Slice', 'Transpose', 'Concat', 'Cast', 'Unsqueeze', 'Squeeze']);

function strides(dims: number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** out[idx] = src[map(idx)] over every index of `dims`. */
function gatherBy(src: IntTensor, dims: number[], map: (idx: number[]) => number[]): IntTensor {
  const ss = strides(src.dims);
  const n = elementCount(dims);
  const data = new Array<number>(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    data[k] = src.data[map(idx).reduce((a, v, d) => a + v * ss[d], 0)];
    for (let d = dims.length - 1; d >= 0 && ++idx[d] === dims[d]; d--) idx[d] = 0;
  }
  return { dataType: src.dataType, dims, data };
}

function axesOf(g: Graph, n: Node, rank: number): number[] | undefined {
  const axes = n.inputs[1] ? g.constantInts(n.inputs[1]) : attrInts(n, 'axes', []);
  return axes?.map((a) => (a < 0 ? a + rank : a));
}

function slice(g: Graph, n: Node, x: IntTensor): IntTensor | undefined {
  const [starts, ends] = [g.constantInts(n.inputs[1]), g.constantInts(n.inputs[2])];
  const rank = x.dims.length;
  const axes = n.inputs[3] ? g.constantInts(n.inputs[3]) : starts?.map((_, i) => i);
  const steps = n.inputs[4] ? g.constantInts(n.inputs[4]) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps || steps.some((s) => s === 0)) return undefined;
  const begin = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = [...x.dims];
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + rank : a0;
    const d = x.dims[a];
    const norm = (v: number) => (v < 0 ? v + d : v);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const s = steps[i];
    const st = s > 0 ? clamp(norm(starts[i]), 0, d) : clamp(norm(starts[i]), 0, d - 1);
    const en = s > 0 ? clamp(norm(ends[i]), 0, d) : clamp(norm(ends[i]), -1, d - 1);
    begin[a] = st;
    step[a] = s;
    dims[a] = Math.max(0, Math.ceil((en - st) / s));
  });
  return gatherBy(x, dims, (idx) => idx.map((v, d) => begin[d] + v * step[d]));
}

function reshape(g: Graph, n: Node, x: IntTensor): IntTensor | undefined {
  const shape = g.constantInts(n.inputs[1]);
  if (!shape) return undefined;
  const allowZero = attrInt(n, 'allowzero', 0) === 1;
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.dims[i] : d));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const out = dims.map((d) => (d === -1 ? x.data.length / known : d));
  return elementCount(out) === x.data.length && out.every(Number.isInteger) ? { ...x, dims: out } : undefined;
}

function concat(n: Node, parts: IntTensor[]): IntTensor | undefined {
  const rank = parts[0].dims.length;
  const axis0 = attrInt(n, 'axis', 0);
  const axis = axis0 < 0 ? axis0 + rank : axis0;
  if (parts.some((p) => p.dims.length !== rank || p.dims.some((d, i) => i !== axis && d !== parts[0].dims[i]))) return undefined;
  const outer = parts[0].dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const data: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const block = p.data.length / outer;
      data.push(...p.data.slice(o * block, (o + 1) * block));
    }
  }
  const dims = [...parts[0].dims];
  dims[axis] = parts.reduce((a, p) => a + p.dims[axis], 0);
  return { dataType: parts[0].dataType, dims, data };
}

/** The node's output, when it is one of INT_EVAL_OPS over constant integer inputs. */
export function evalIntOp(g: Graph, n: Node): IntTensor | undefined {
  if (n.domain !== '' || !INT_EVAL_OPS.has(n.opType)) return undefined;
  const ins: IntTensor[] = [];
  for (const v of n.inputs) {
    const t = v === '' ? undefined : g.constant(v);
    if (v !== '' && (!t || !INT_TYPES.has(t.dataType) || t.data.length > MAX_ELEMENTS)) return undefined;
    if (t) ins.push({ dataType: t.dataType, dims: t.dims, data: toNumbers(t) });
  }
  const x = ins[0];
  if (!x) return undefined;
  let out: IntTensor | undefined;
  switch (n.opType) {
    case 'ConstantOfShape': {
      const v = n.attrs.value;
      if (v?.kind !== 'tensor' || !INT_TYPES.has(v.value.dataType)) return undefined;
      const fill = toNumbers(v.value)[0] ?? 0;
      out = { dataType: v.value.dataType, dims: x.data, data: new Array<number>(elementCount(x.data)).fill(fill) };
      break;
    }
    case 'Cast': {
      const to = attrInt(n, 'to', 0);
      out = INT_TYPES.has(to) ? { ...x, dataType: to } : undefined;
      break;
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm', x.dims.map((_, i) => x.dims.length - 1 - i));
      const inv = perm.map((_, i) => perm.indexOf(i));
      out = gatherBy(x, perm.map((p) => x.dims[p]), (idx) => inv.map((j) => idx[j]));
      break;
    }
    case 'Unsqueeze': {
      const axes = axesOf(g, n, x.dims.length + (n.inputs[1] ? toNumbers(g.constant(n.inputs[1])!).length : attrInts(n, 'axes', []).length));
      if (!axes) return undefined;
      const dims = [...x.dims];
      for (const a of [...axes].sort((p, q) => p - q)) dims.splice(a, 0, 1);
      out = { ...x, dims };
      break;
    }
    case 'Squeeze': {
      const axes = axesOf(g, n, x.dims.length) ?? [];
      const drop = (d: number, i: number) => (axes.length ? axes.includes(i) : d === 1);
      out = { ...x, dims: x.dims.filter((d, i) => !drop(d, i)) };
      break;
    }
    case 'Reshape': out = reshape(g, n, x); break;
    case 'Slice': out = slice(g, n, x); break;
    case 'Concat': out = concat(n, ins); break;
  }
  return out && out.data.length <= MAX_ELEMENTS ? out : undefined;
}
