/**
 * merge-conv-branches: add parallel convs on the same input into one conv (RepVGG's 3x3 + 1x1 + identity).
 *
 * Before: s = Conv_3x3(x) + (Conv_1x1(x) + Conv_id(x)) [+ c]     After: s = Conv_merged(x)
 * A sum is a tree of Add/Sum nodes of any nesting and node order; its terms are regrouped freely
 * (addition with broadcasting is associative and commutative). Terms that are not mergeable convs stay,
 * added to the merged conv by a chain of Adds ending in the sum's original output name.
 * Conditions per merged conv: its output is read only by the sum; constant float32 weights (and bias);
 *   same input, strides, group, output channels and input channels per group as the
 *   reference (the conv with the largest kernel), same dilation along every dim where both kernels are
 *   wider than 1; explicit pads (or auto_pad=VALID). A constant term c
 *   joins when it broadcasts per output channel ([], [1], [M,1,1], [1,M,1,1], ...).
 * Math: the merged kernel has, per spatial dim, the largest size K; each kernel k is zero-padded into it
 *   centred on the reference, at offset o = (P - p_k) / d where P = p_ref + (K - k_ref) div 2 * d (p =
 *   begin pad, d = dilation). A conv is merged only if o is an integer in [0, K - k] and its end pad
 *   satisfies e_k + (K - k - o) * d = the reference's, so every tap reads the input pixel it read before
 *   and output sizes agree. Kernels and biases (and constant terms) add.
 * The reference conv's weights are accumulated in place when it alone owns them.
 */
import { type Graph, type Node } from '../ir/graph.js';
import {addKernelInto, convInfo, dilationsAgree, isSumRoot, mergedDilations, ownedWeight, replaceConvWeight, setConvBias, sumTerms, type ConvInfo} from './lib/conv.js';
import { flatGraphPass, type Pass, type PassReport } from './pass.js';

interface Aligned {
  conv: ConvInfo;
  offset: number[];
}

interface Plan {
  ref: ConvInfo;
  kernel: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  members: Aligned[];
  constants: { value: string; data: Float32Array }[];
}

/** Align convs on one input to the reference (largest kernel); the rest are returned with the reason. */
function plan(convs: ConvInfo[]): { plan: Plan; rejected: string[] } {
  const vol = (c: ConvInfo) => c.kernel.reduce((a, b) => a * b, 1);
  const ref = convs.reduce((best, c) => (vol(c) > vol(best) && c.kernel.length === best.kernel.length ? c : best), convs[0]);
  const sp = ref.kernel.length;
  const rejected: string[] = [];
  const basic = convs.filter((c) => {
    const why =
      c.kernel.length !== sp ? `rank ${c.kernel.length + 2}, not ${sp + 2}` :
      c.strides.join() !== ref.strides.join() ? `strides [${c.strides}], not [${ref.strides}]` :
      c.group !== ref.group ? `group ${c.group}, not ${ref.group}` :
      c.outChannels !== ref.outChannels || c.inPerGroup !== ref.inPerGroup ? `weight [${c.weight.dims}] vs [${ref.weight.dims}]` : '';
    if (why) rejected.push(`Conv ${c.node.name} not merged with ${ref.node.name}: ${why}`);
    return !why;
  });
  const dilations = mergedDilations(ref, basic);
  const compatible = basic.filter((c) => {
    const ok = dilationsAgree(c, dilations);
    if (!ok) rejected.push(`Conv ${c.node.name} not merged with ${ref.node.name}: dilations [${c.dilations}], not [${dilations}]`);
    return ok;
  });
  const kernel = ref.kernel.map((_, d) => Math.max(...compatible.map((c) => c.kernel[d])));
  const padsBegin = ref.kernel.map((k, d) => ref.padsBegin[d] + Math.floor((kernel[d] - k) / 2) * dilations[d]);
  const offsets = (c: ConvInfo) => c.kernel.map((_, d) => (padsBegin[d] - c.padsBegin[d]) / dilations[d]);
  const endPad = (c: ConvInfo, off: number[]) => c.kernel.map((k, d) => c.padsEnd[d] + (kernel[d] - k - off[d]) * dilations[d]);
  const padsEnd = endPad(ref, offsets(ref));
  const members: Aligned[] = [];
  for (const c of compatible) {
    const off = offsets(c);
    const fits = off.every((o, d) => Number.isInteger(o) && o >= 0 && o <= kernel[d] - c.kernel[d]);
    if (!fits || endPad(c, off).join() !== padsEnd.join()) {
      rejected.push(`Conv ${c.node.name} not merged with ${ref.node.name}: pads [${c.padsBegin},${c.padsEnd}] of its ${c.kernel.join('x')} kernel do not align with pads [${ref.padsBegin},${ref.padsEnd}] of ${ref.kernel.join('x')}`);
    } else members.push({ conv: c, offset: off });
  }
  return { plan: { ref, kernel, dilations, padsBegin, padsEnd, members, constants: [] }, rejected };
}

/** A float constant term that adds one value per output channel of a rank-`rank` conv output with M channels. */
function channelConstant(g: Graph, value: string, rank: number, m: number): Float32Array | undefined {
  const t = g.constant(value);
  const data = t && g.constantFloats(value);
  if (!t || !data || t.dims.length > rank) return undefined;
  const dims = [...new Array(rank - t.dims.length).fill(1), ...t.dims];
  if (dims.some((d, i) => d !== 1 && !(i === 1 && d === m))) return undefined;
  return data;
}

/** Build the merged conv in place of the reference conv; returns the values the merged conv replaces. */
function apply(g: Graph, p: Plan): Set<string> {
  const { ref, kernel } = p;
  const m = ref.outChannels;
  const dims = [m, ref.inPerGroup, ...kernel];
  const refAligned = p.members.find((a) => a.conv === ref)!;
  const inPlace = ref.kernel.join() === kernel.join() ? ownedWeight(g, ref) : undefined;
  const acc = inPlace ?? new Float32Array(dims.reduce((a, b) => a * b, 1));
  if (!inPlace) addKernelInto(acc, kernel, ref.weight.data as Float32Array, ref.kernel, refAligned.offset);
  const bias = new Float64Array(m);
  for (const { conv, offset } of p.members) {
    if (conv !== ref) addKernelInto(acc, kernel, conv.weight.data as Float32Array, conv.kernel, offset);
    if (conv.bias) for (let o = 0; o < m; o++) bias[o] += conv.bias[o];
  }
  for (const { data } of p.constants) for (let o = 0; o < m; o++) bias[o] += data.length === 1 ? data[0] : data[o];
  if (!inPlace) replaceConvWeight(g, ref.node, dims, acc);
  setConvBias(g, ref.node, Float32Array.from(bias));
  ref.node.attrs.kernel_shape = { kind: 'ints', value: kernel };
  ref.node.attrs.pads = { kind: 'ints', value: [...p.padsBegin, ...p.padsEnd] };
  ref.node.attrs.dilations = { kind: 'ints', value: p.dilations };
  delete ref.node.attrs.auto_pad;
  const gone = new Set<string>(p.constants.map((c) => c.value));
  for (const { conv } of p.members) {
    if (conv === ref) continue;
    gone.add(conv.node.outputs[0]);
    g.removeNode(conv.node);
  }
  return gone;
}

function mergeSum(g: Graph, root: Node, report: PassReport): void {
  const { sums, terms } = sumTerms(g, root);
  const byInput = new Map<string, ConvInfo[]>();
  const ineligible: string[] = [];
  for (const t of terms) {
    const p = g.producer(t);
    if (!p || p.opType !== 'Conv' || p.domain !== '') continue;
    const c = convInfo(g, p);
    if (g.useCount(t) !== 1) ineligible.push(`Conv ${p.name}: its output is also read outside the sum`);
    else if (typeof c === 'string') ineligible.push(`Conv ${p.name}: ${c}`);
    else byInput.set(c.x, [...(byInput.get(c.x) ?? []), c]);
  }
  const plans: Plan[] = [];
  const rejected: string[] = [];
  for (const convs of byInput.values()) {
    const r = plan(convs);
    rejected.push(...r.rejected);
    if (r.plan.members.length >= 2) plans.push(r.plan);
  }
  // Constant terms become bias of the first merged conv, or of a lone conv when they are all there is to fold.
  const lone = [...byInput.values()].find((cs) => cs.length === 1);
  const target = plans[0] ?? (lone && plan(lone).plan);
  if (target) {
    for (const t of terms) {
      const data = channelConstant(g, t, target.ref.kernel.length + 2, target.ref.outChannels);
      if (data) target.constants.push({ value: t, data });
    }
    if (target !== plans[0] && target.constants.length) plans.push(target);
  }
  const convTerms = [...byInput.values()].flat().length + ineligible.length;
  if (convTerms >= 2) for (const why of [...ineligible, ...rejected]) report.skipped.push(`${root.opType} ${root.name}: ${why}`);
  if (!plans.length) return;

  const out = root.outputs[0];
  const gone = new Set<string>();
  for (const p of plans) {
    for (const v of apply(g, p)) gone.add(v);
    const names = p.members.map((a) => a.conv.node.name);
    const consts = p.constants.length ? ` + ${p.constants.length} constant term(s)` : '';
    report.changes.push(`${root.opType} ${root.name}: merged ${names.join(', ')}${consts} into Conv ${p.ref.node.name} (${p.kernel.join('x')})`);
  }
  const left = terms.filter((t) => !gone.has(t));
  for (const s of sums) g.removeNode(s);
  if (left.length === 1) {
    g.renameOutput(g.producer(left[0])!, 0, out);
    return;
  }
  let acc = left[0];
  for (let i = 1; i < left.length; i++) {
    const last = i === left.length - 1;
    const y = last ? out : g.uniqueName(`${out}_partial`);
    g.addNode({ name: last ? root.name : `${root.name}_partial`, opType: 'Add', inputs: [acc, left[i]], outputs: [y] });
    acc = y;
  }
}

export const mergeConvBranches: Pass = flatGraphPass({
  name: 'merge-conv-branches',
  rewrite(g, report) {
    for (const root of g.nodes.filter((n) => isSumRoot(g, n))) mergeSum(g, root, report);
  },
});
