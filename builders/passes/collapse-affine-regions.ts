/**
 * collapse-affine-regions: every affine region between nonlinear ops becomes one Conv per region input,
 * whatever family wrote it (RepViT's BN after the Add, FastViT's x + scale * (mixer(x) - BN(x)), DBB's
 * 1x1 -> KxK and average-pool branches, ACNet's 1x3/3x1, RepGhost's BN shortcut, large-kernel 7x7 + 3x3).
 *
 * Before: y = BN(BN(dwconv3x3(x)) + dwconv1x1(x) + x)           After: y = Conv3x3_dw(x)
 *         y = x + s * (BN(x) + BN(dw1x1(x)) + BN(dw3x3(x)) - BN(x))          y = Conv3x3_dw(x)
 *         y = BN(conv3x3(pad(BN(conv1x1(x)) - t) + t)) + ...                  y = Conv3x3(x)
 * A region is a DAG of Conv (constant weights), BatchNormalization (inference), Add/Sub/Sum of region
 *   values, Add/Sub/Mul/Div by a constant with one value per channel or a scalar, AveragePool (a fixed
 *   depthwise kernel) and zero Pad, read from outside only at its inputs (values made by other ops, graph
 *   inputs) and its output. Its inner values are read once, inside it.
 * The math (lib/affine.ts): every region value is sum_s Conv_s(s) + b over the region inputs s, and each
 *   op maps that form to itself exactly: scales and shifts act on kernel rows and b; sums embed kernels of
 *   the same input into the larger one (aligned on the pixels they read, in the coarsest common group);
 *   a Conv/AveragePool/Pad on a value composes kernels (taps s_in*d_out*t + d_in*u, stride s_in*s_out).
 * Conditions: a zero-padding op absorbs a value only when that value is 0 outside its extent (b = 0 and
 *   its kernel reads nothing but padding there): a mean subtraction before a zero-padded conv stays. Sums
 *   need equal strides, equal dilations along dims where both kernels are wider than 1, and the smaller
 *   kernel inside the larger. A step that would raise the MACs per output pixel (a low-rank 1x1 pair, a
 *   depthwise and a dense kernel) is not taken. A region is rewritten when it becomes fewer nodes at no more
 *   MACs: one Conv per input that is not the input itself, added up, the bias on the first.
 * Where a region stops, the manifest says which op could not absorb what and why; an op of these kinds
 * that is not affine where it stands (a Mul by a tensor, reflect padding) says so too.
 */
import { attrFloat, attrInt, attrInts, attrString, type Graph, type Node } from '../ir/graph.js';
import { inferShapes, type Shape } from '../ir/shapes.js';
import { DataType } from '../../core/tensor.js';
import { compose, isUnit, kernelCost, leaf, scaleShift, sum, type Affine, type Kernel, type Term } from './lib/affine.js';
import { bnAffine, channelConstant, convInfo } from './lib/conv.js';
import { flatGraphPass, type Pass, type PassReport } from './pass.js';

/** The value `v` as a region value with c channels and spatial rank sp (undefined: take what is known). */
type Input = (v: string, c?: number, sp?: number) => Affine | string;

const KINDS = new Set(['Conv', 'BatchNormalization', 'Add', 'Sub', 'Sum', 'Mul', 'Div', 'Pad', 'AveragePool']);
/** Ops with weights of their own: a region holding one is worth a word where it is cut short. */
const WEIGHTED = new Set(['Conv', 'BatchNormalization']);
/** Ops that only move data into the form a Conv computes anyway: a lone one is not worth a record. */
const PLAIN = new Set(['Conv', 'Add', 'Sum']);

const ones = (n: number) => new Array<number>(n).fill(1);

function depthwise(c: number, sp: number, kernel: number[], value: number, geo: Partial<Kernel>): Kernel {
  const vol = kernel.reduce((a, b) => a * b, 1);
  return {
    m: c, cin: c, group: c, kernel, strides: ones(sp), dilations: ones(sp), padsBegin: new Array(sp).fill(0),
    padsEnd: new Array(sp).fill(0), w: new Float64Array(c * vol).fill(value), ...geo,
  };
}

function conv(g: Graph, n: Node, input: Input): Affine | string {
  const c = convInfo(g, n);
  if (typeof c === 'string') return c;
  const a = input(c.x, c.inPerGroup * c.group, c.kernel.length);
  if (typeof a === 'string') return a;
  const k: Kernel = {
    m: c.outChannels, cin: c.inPerGroup * c.group, group: c.group, kernel: c.kernel, strides: c.strides, dilations: c.dilations,
    padsBegin: c.padsBegin, padsEnd: c.padsEnd, w: c.weight.data as Float32Array,
  };
  return compose(a, k, c.bias, kernelCost(k));
}

function batchNorm(g: Graph, n: Node, input: Input): Affine | string {
  const bn = bnAffine(g, n);
  if (typeof bn === 'string') return bn;
  const a = input(n.inputs[0], bn.scale.length);
  return typeof a === 'string' ? a : scaleShift(a, bn.scale, bn.shift);
}

/** Add, Sub, Sum, Mul, Div with constants per channel and region values. */
function elementwise(g: Graph, n: Node, input: Input): Affine | string | undefined {
  const data = n.inputs.filter((v) => !g.constant(v));
  if (!data.length) return undefined;
  const op = n.opType;
  if (n.attrs.broadcast || n.attrs.axis) return 'legacy broadcast attributes';
  if ((op === 'Mul' || op === 'Div') && data.length > 1) return `${data.join(` ${op === 'Mul' ? '*' : '/'} `)}: neither operand is a constant`;
  if (op === 'Div' && data[0] !== n.inputs[0]) return 'a constant divided by a value is not affine';
  // The first operand whose channels and rank are known sets them for the others.
  let first: Affine | string = '';
  let firstName = '';
  for (const v of data) {
    first = input(v);
    firstName = v;
    if (typeof first !== 'string') break;
  }
  if (typeof first === 'string') return first;
  const constantOf = (v: string) => channelConstant(g, v, first.sp + 2, first.m) ?? `${v} is not a float constant with one value per channel`;
  if (op === 'Mul' || op === 'Div') {
    const k = constantOf(n.inputs.find((v) => v !== firstName)!);
    if (typeof k === 'string') return k;
    return scaleShift(first, op === 'Div' ? k.map((v) => 1 / v) : k, undefined);
  }
  // Add / Sub / Sum: sign of each operand, terms summed, constants into the bias.
  let acc: Affine | undefined;
  const shift = new Float64Array(first.m);
  for (let i = 0; i < n.inputs.length; i++) {
    const v = n.inputs[i];
    const sign = op === 'Sub' && i === 1 ? -1 : 1;
    if (g.constant(v)) {
      const k = constantOf(v);
      if (typeof k === 'string') return k;
      const m = first.m;
      for (let c = 0; c < m; c++) shift[c] += sign * (k.length === 1 ? k[0] : k[c]);
      continue;
    }
    const a = v === firstName ? first : input(v, first.m, first.sp);
    if (typeof a === 'string') return a;
    if (!acc) {
      acc = sign === 1 ? a : scaleShift(a, [-1], undefined);
      continue;
    }
    const s = sum(acc, a, sign);
    if (typeof s === 'string') return s;
    acc = s;
  }
  return scaleShift(acc!, undefined, shift);
}

function pad(g: Graph, n: Node, input: Input): Affine | string {
  const mode = attrString(n, 'mode', 'constant');
  if (mode !== 'constant') return `mode=${mode}: the border is not zero`;
  if (n.inputs[3]) return 'an axes input';
  const pads = n.inputs[1] !== undefined ? g.constantInts(n.inputs[1]) : attrInts(n, 'pads', []);
  if (!pads) return 'its pads are not constant';
  const value = n.inputs[2] ? g.constantFloats(n.inputs[2])?.[0] : attrFloat(n, 'value', 0);
  if (value !== 0) return `it pads with ${value ?? 'a computed value'}, not 0`;
  const r = pads.length / 2;
  if (r < 3 || pads[0] || pads[1] || pads[r] || pads[r + 1]) return `pads [${pads}] touch the batch or channel axis (or there is no spatial axis)`;
  if (pads.some((p) => p < 0)) return `negative pads [${pads}] crop`;
  const a = input(n.inputs[0], undefined, r - 2);
  if (typeof a === 'string') return a;
  const k = depthwise(a.m, a.sp, ones(a.sp), 1, { padsBegin: pads.slice(2, r), padsEnd: pads.slice(r + 2) });
  return compose(a, k, undefined, a.m);
}

function averagePool(n: Node, input: Input): Affine | string {
  const kernel = attrInts(n, 'kernel_shape', []);
  const sp = kernel.length;
  const autoPad = attrString(n, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return `auto_pad=${autoPad}`;
  if (attrInt(n, 'ceil_mode', 0)) return 'ceil_mode=1 (partial windows at the end)';
  const pads = autoPad === 'VALID' ? new Array(2 * sp).fill(0) : attrInts(n, 'pads', new Array(2 * sp).fill(0));
  if (pads.some((p) => p !== 0) && !attrInt(n, 'count_include_pad', 0)) return 'count_include_pad=0 with padding: border windows average fewer pixels';
  const a = input(n.inputs[0], undefined, sp);
  if (typeof a === 'string') return a;
  const vol = kernel.reduce((x, y) => x * y, 1);
  const k = depthwise(a.m, sp, kernel, 1 / vol, {
    strides: attrInts(n, 'strides', ones(sp)), dilations: attrInts(n, 'dilations', ones(sp)), padsBegin: pads.slice(0, sp), padsEnd: pads.slice(sp),
  });
  return compose(a, k, undefined, a.m * vol);
}

/** The node as a region step, why it is not affine here, or undefined for ops of other kinds. */
function interpret(g: Graph, n: Node, input: Input): Affine | string | undefined {
  if (n.domain !== '' || !KINDS.has(n.opType)) return undefined;
  switch (n.opType) {
    case 'Conv': return conv(g, n, input);
    case 'BatchNormalization': return batchNorm(g, n, input);
    case 'Pad': return pad(g, n, input);
    case 'AveragePool': return averagePool(n, input);
    default: return elementwise(g, n, input);
  }
}

function describe(nodes: Node[]): string {
  return nodes.map((n) => `${n.opType} ${n.name}`).join(', ');
}

function geometry(t: Term): string {
  const parts = [`${t.kernel.join('x')}`];
  if (t.group > 1) parts.push(t.group === t.m && t.group === t.cin ? 'depthwise' : `group ${t.group}`);
  if (t.strides.some((s) => s > 1)) parts.push(`stride ${t.strides.join('x')}`);
  if (t.dilations.some((d) => d > 1)) parts.push(`dilation ${t.dilations.join('x')}`);
  return parts.join(', ');
}

/** Replace the region with one Conv per input (plus Adds), or record why it stays. */
function collapse(g: Graph, root: string, e: Affine, stop: string | undefined, report: PassReport): void {
  const where = `region ending at ${root} (${describe(e.nodes)})`;
  const stopNote = stop ? `; it ends there because ${stop}` : '';
  const worthSaying = !!stop || e.nodes.some((n) => !PLAIN.has(n.opType));
  const convTerms = e.terms.filter((t) => !isUnit(t));
  // A region of plain sums with a bias still needs one Conv to carry it.
  const convs = convTerms.length || (e.terms.length === 1 || e.bias.some((b) => b !== 0) ? 1 : 0);
  const newNodes = convs + e.terms.length - 1;
  const asConv = convTerms.length ? convTerms : e.terms.slice(0, convs);
  const newCost = asConv.reduce((a, t) => a + kernelCost(t), 0) + (e.terms.length - 1) * e.m;
  if (newNodes >= e.nodes.length || newCost > e.cost) {
    if ((worthSaying || newCost > e.cost) && e.nodes.length > 1) {
      report.skipped.push(`${where}: left as is: ${newNodes} node(s) at ${newCost} MACs per pixel instead of ${e.nodes.length} at ${e.cost}${stopNote}`);
    } else if (stop) report.skipped.push(`${where}: left as is${stopNote}`);
    return;
  }
  const base = g.producer(root)!.name;
  for (const n of e.nodes) g.removeNode(n);
  const values: string[] = [];
  const made: string[] = [];
  let bias: Float64Array | undefined = e.bias;
  e.terms.forEach((t, i) => {
    if (!asConv.includes(t)) {
      values.push(t.source);
      return;
    }
    const name = e.terms.length === 1 ? base : `${base}/from_${i}`;
    const w = g.addInitializer(`${name}.weight`, DataType.FLOAT, [t.m, t.cin / t.group, ...t.kernel], Float32Array.from(t.w));
    const b = g.addInitializer(`${name}.bias`, DataType.FLOAT, [t.m], Float32Array.from(bias ?? new Float64Array(t.m)));
    bias = undefined;
    const out = e.terms.length === 1 ? root : g.uniqueName(`${root}/from_${i}`);
    const node = g.addNode({
      name, opType: 'Conv', inputs: [t.source, w, b], outputs: [out],
      attrs: { kernel_shape: t.kernel, strides: t.strides, dilations: t.dilations, pads: [...t.padsBegin, ...t.padsEnd], group: t.group },
    });
    values.push(out);
    made.push(`Conv ${node.name} (${geometry(t)}) on ${t.source}`);
  });
  let acc = values[0];
  for (let i = 1; i < values.length; i++) {
    const out = i === values.length - 1 ? root : g.uniqueName(`${root}/partial`);
    g.addNode({ name: `${base}/add`, opType: 'Add', inputs: [acc, values[i]], outputs: [out] });
    acc = out;
  }
  const adds = values.length > 1 ? ` + ${values.length - 1} Add` : '';
  report.changes.push(`${where} -> ${made.join(', ')}${adds}: ${e.nodes.length} nodes -> ${newNodes}, ${e.cost} -> ${newCost} MACs per pixel${stopNote}`);
}

export const collapseAffineRegions: Pass = flatGraphPass({
  name: 'collapse-affine-regions',
  rewrite(g, report) {
    const shapes = inferShapes(g);
    const exprs = new Map<string, Affine>();
    const absorbed = new Set<string>();
    const stops = new Map<string, string>();
    const known = (v: string): Shape | undefined => shapes.get(v);
    for (const n of g.topoSort()) {
      const used: string[] = [];
      const input = (leavesOnly: boolean): Input => (v, c, sp) => {
        const e = exprs.get(v);
        if (e && !leavesOnly && g.useCount(v) === 1 && !g.isGraphOutput(v)) {
          if ((c !== undefined && c !== e.m) || (sp !== undefined && sp !== e.sp)) return `${v} has ${e.m} channels and ${e.sp} spatial dims`;
          used.push(v);
          return e;
        }
        const s = known(v);
        const cc = c ?? (typeof s?.[1] === 'number' && s[1] > 0 ? s[1] : e?.m);
        const ss = sp ?? (s ? s.length - 2 : e?.sp);
        if (cc === undefined || ss === undefined) return `the channel count or rank of ${v} is unknown`;
        if (ss < 1) return `${v} has no spatial axis`;
        return leaf(v, cc, ss);
      };
      let res = interpret(g, n, input(false));
      if (typeof res === 'string' && used.length) {
        // Start a new region here: the values it could not absorb end theirs.
        const why = res;
        const tried = used.splice(0);
        res = interpret(g, n, input(true));
        if (typeof res !== 'string') for (const v of tried) stops.set(v, `${n.opType} ${n.name} cannot absorb it: ${why}`);
      }
      if (res === undefined) continue;
      if (typeof res === 'string') {
        // Said only where it cuts a region short: every GELU or SiLU Mul of a model is not news.
        const cuts = n.inputs.some((v) => g.useCount(v) === 1 && !g.isGraphOutput(v) && exprs.get(v)?.nodes.some((m) => WEIGHTED.has(m.opType)));
        if (cuts) report.skipped.push(`${n.opType} ${n.name}: ${res} (not affine here: a region boundary)`);
        continue;
      }
      for (const v of used) absorbed.add(v);
      exprs.set(n.outputs[0], { ...res, nodes: [...res.nodes, n] });
    }
    for (const [root, e] of exprs) if (!absorbed.has(root)) collapse(g, root, e, stops.get(root), report);
  },
});
