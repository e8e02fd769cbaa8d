/**
 * convert-identity-bn-to-conv: turn a BatchNormalization applied straight to a tensor (RepVGG's identity
 * branch) into a 3x3 Conv, so merge-conv-branches can add it into its sibling convs.
 *
 * Before: s = Conv_a(x) + Conv_b(x) + BN(x)      After: s = Conv_a(x) + Conv_b(x) + Conv_id(x)
 * Conditions: BN(x)'s only reader is a sum (Add/Sum tree, any nesting) that also adds at least one Conv
 *   reading the same x, whose output is read only by that sum; those sibling convs agree on group and
 *   dilation (of their kernels wider than 1), have stride 1 and map C channels to C (C = the BN's channel count); the BN is in inference
 *   mode with constant parameters.
 * Math: with s = gamma / sqrt(var + epsilon) and t = beta - mean * s, BN(x)[c] = s[c] * x[c] + t[c].
 *   Conv_id: kernel 3x3 (per spatial dim), dilation d and pads d of the siblings, stride 1, group g of
 *   the siblings; W[o, o mod (C/g), centre] = s[o], every other tap 0; bias t. Output channel o of group
 *   o div (C/g) reads input channels of that group, local index o mod (C/g) being channel o itself.
 */
import type { Graph, Node } from '../ir/graph.js';
import { DataType } from '../../core/tensor.js';
import {bnAffine, convInfo, dilationsAgree, identityKernel, isSum, mergedDilations, sumRoot, sumTerms, type ConvInfo} from './lib/conv.js';
import { flatGraphPass, type Pass } from './pass.js';

const IDENTITY_KERNEL = 3;

/** The convs on the same input that are terms of the sum BN's output belongs to, or why there are none. */
function siblingConvs(g: Graph, bn: Node): ConvInfo[] | string {
  const y = bn.outputs[0];
  const [reader] = g.consumers(y);
  if (g.useCount(y) !== 1 || !isSum(reader)) return 'its output is not read by exactly one Add/Sum';
  const { terms } = sumTerms(g, sumRoot(g, reader));
  const convs: ConvInfo[] = [];
  const rejected: string[] = [];
  for (const t of terms) {
    const p = g.producer(t);
    if (!p || p.opType !== 'Conv' || p.domain !== '' || p.inputs[0] !== bn.inputs[0]) continue;
    if (g.useCount(t) !== 1) {
      rejected.push(`Conv ${p.name}'s output is also read elsewhere`);
      continue;
    }
    const c = convInfo(g, p);
    if (typeof c === 'string') rejected.push(`Conv ${p.name}: ${c}`);
    else convs.push(c);
  }
  if (!convs.length) return rejected.length ? rejected.join('; ') : `the sum it feeds has no Conv reading ${bn.inputs[0]}`;
  return convs;
}

/** The new Conv, or why the BN stays. */
function convert(g: Graph, bn: Node): Node | string {
  const siblings = siblingConvs(g, bn);
  if (typeof siblings === 'string') return siblings;
  const ref = siblings[0];
  const sp = ref.kernel.length;
  const dilations = mergedDilations(ref, siblings);
  for (const c of siblings) {
    if (c.group !== ref.group || c.kernel.length !== sp || !dilationsAgree(c, dilations)) {
      return `sibling convs ${ref.node.name} and ${c.node.name} differ in group, dilation or rank`;
    }
    if (c.strides.some((s) => s !== 1)) return `sibling Conv ${c.node.name} has strides [${c.strides}], an identity branch needs stride 1`;
  }
  const affine = bnAffine(g, bn);
  if (typeof affine === 'string') return affine;
  const C = affine.scale.length;
  if (ref.outChannels !== C || ref.inPerGroup * ref.group !== C) {
    return `${C} channels, but sibling Conv ${ref.node.name} maps ${ref.inPerGroup * ref.group} to ${ref.outChannels} channels`;
  }

  const w = identityKernel(affine.scale, ref.group, sp, IDENTITY_KERNEL);
  const kernel = new Array<number>(sp).fill(IDENTITY_KERNEL);
  const wName = g.addInitializer(`${bn.name}.identity_weight`, DataType.FLOAT, [C, C / ref.group, ...kernel], w);
  const bName = g.addInitializer(`${bn.name}.identity_bias`, DataType.FLOAT, [C], Float32Array.from(affine.shift));
  const y = bn.outputs[0];
  const x = bn.inputs[0];
  g.removeNode(bn);
  return g.addNode({
    name: `${bn.name}_as_conv`,
    opType: 'Conv',
    inputs: [x, wName, bName],
    outputs: [y],
    attrs: { kernel_shape: kernel, strides: new Array(sp).fill(1), dilations, pads: [...dilations, ...dilations], group: ref.group },
  });
}

export const convertIdentityBnToConv: Pass = flatGraphPass({
  name: 'convert-identity-bn-to-conv',
  rewrite(g, report) {
    for (const bn of g.nodes) {
      if (bn.opType !== 'BatchNormalization' || bn.domain !== '') continue;
      const name = bn.name;
      const res = convert(g, bn);
      if (typeof res === 'string') report.skipped.push(`BatchNormalization ${name}: ${res}`);
      else report.changes.push(`BatchNormalization ${name} -> identity Conv ${res.name}`);
    }
  },
});
