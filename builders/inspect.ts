/**
 * Model statistics for `rebake inspect` and the build manifest: I/O signature, op histogram, parameter
 * count and multiply-accumulates per Conv/Gemm/MatMul at batch 1 (symbolic dims count as 1).
 */
import { attrInt, type Dim } from './ir/graph.js';
import type { Model } from './ir/model.js';
import { inferShapes } from './ir/shapes.js';
import { DataType, dataTypeName, elementCount, type Tensor } from '../core/tensor.js';

export interface IOInfo {
  name: string;
  dtype: string;
  shape: Dim[] | null;
}

export interface LayerCost {
  node: string;
  op: string;
  macs: number;
}

export interface ModelStats {
  inputs: IOInfo[];
  outputs: IOInfo[];
  ops: Record<string, number>;
  nodes: number;
  params: number;
  macs: number;
  layers: LayerCost[];
  /** Preprocessing placement recorded by the bake-preprocess pass in the model metadata, when present. */
  preprocess?: unknown;
}

const WEIGHT_TYPES = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.INT8]);

function countDim(d: Dim | undefined): number {
  return typeof d === 'number' && d > 0 ? d : 1;
}

export function modelStats(model: Model): ModelStats {
  const g = model.graph;
  const ops: Record<string, number> = {};
  const weights = new Map<string, Tensor>();
  for (const t of g.initializers.values()) if (WEIGHT_TYPES.has(t.dataType)) weights.set(t.name, t);
  for (const n of g.nodes) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
    if (n.opType === 'Constant' && n.attrs.value?.kind === 'tensor' && WEIGHT_TYPES.has(n.attrs.value.value.dataType)) {
      weights.set(n.outputs[0], n.attrs.value.value);
    }
  }
  let params = 0;
  for (const t of weights.values()) params += elementCount(t.dims);

  const shapes = inferShapes(g);
  const layers: LayerCost[] = [];
  for (const n of g.topoSort()) {
    const out = shapes.get(n.outputs[0]);
    const w = shapes.get(n.inputs[1] ?? '');
    if (!out || !w) continue;
    let macs: number | undefined;
    if (n.opType === 'Conv') macs = out.slice(1).reduce<number>((a, d) => a * countDim(d), 1) * w.slice(1).reduce<number>((a, d) => a * countDim(d), 1);
    else if (n.opType === 'Gemm') macs = countDim(out[1]) * countDim(attrInt(n, 'transB', 0) ? w[1] : w[0]);
    else if (n.opType === 'MatMul') macs = out.slice(1).reduce<number>((a, d) => a * countDim(d), 1) * countDim(w[w.length - 2]);
    if (macs !== undefined) layers.push({ node: n.name, op: n.opType, macs });
  }
  const io = (v: { name: string; elemType: number; shape?: Dim[] }): IOInfo => ({ name: v.name, dtype: dataTypeName(v.elemType), shape: v.shape ?? null });
  const meta = model.rest.metadataProps?.find((p) => p.key === 'rebake.preprocess');
  let preprocess: unknown;
  if (meta?.value) {
    try {
      preprocess = JSON.parse(meta.value);
    } catch {
      preprocess = meta.value;
    }
  }
  return {
    inputs: g.inputs.map(io),
    outputs: g.outputs.map(io),
    ops,
    nodes: g.nodeCount,
    params,
    macs: layers.reduce((a, l) => a + l.macs, 0),
    layers,
    ...(preprocess !== undefined ? { preprocess } : {}),
  };
}

function fmtShape(s: Dim[] | null): string {
  return s ? `[${s.join(', ')}]` : '[?]';
}

export function formatStats(title: string, s: ModelStats): string {
  const lines = [`${title}`];
  for (const v of s.inputs) lines.push(`  input   ${v.name}: ${v.dtype} ${fmtShape(v.shape)}`);
  for (const v of s.outputs) lines.push(`  output  ${v.name}: ${v.dtype} ${fmtShape(v.shape)}`);
  lines.push(`  nodes   ${s.nodes}: ${Object.entries(s.ops).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`  params  ${s.params.toLocaleString('en-US')} (${(s.params / 1e6).toFixed(2)} M)`);
  lines.push(`  MACs    ${s.macs.toLocaleString('en-US')} (${(s.macs / 1e9).toFixed(3)} G) at batch 1`);
  if (s.preprocess !== undefined) lines.push(...formatPreprocess(s.preprocess));
  return lines.join('\n');
}

interface PreprocessRecord {
  vdsp_params?: string;
  op_type?: string;
  steps?: { step: string; placement: string; nodes: string[]; detail: string }[];
}

/** One line per baked preprocessing step: where it went (graph nodes, folded into weights, or nothing to do). */
function formatPreprocess(p: unknown): string[] {
  const rec = p as PreprocessRecord;
  if (typeof p !== 'object' || !Array.isArray(rec.steps)) return [`  preprocessing baked in: ${JSON.stringify(p)}`];
  const lines = [`  preprocessing baked in from ${rec.vdsp_params ?? '?'} (${rec.op_type ?? '?'}):`];
  for (const st of rec.steps) {
    const where = st.placement === 'graph' ? `in the graph: ${st.nodes.join(', ')}` : st.placement === 'folded' ? 'folded' : 'nothing to do';
    lines.push(`    ${st.step.padEnd(12)} ${where}; ${st.detail}`);
  }
  return lines;
}

export function formatLayers(s: ModelStats): string {
  const w = Math.max(4, ...s.layers.map((l) => l.node.length));
  return s.layers.map((l) => `  ${l.node.padEnd(w)}  ${l.op.padEnd(6)}  ${l.macs.toLocaleString('en-US').padStart(15)}`).join('\n');
}
