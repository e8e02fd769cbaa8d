/**
 * fold-bn-into-gemm: fold an inference BatchNormalization on a feature vector (BatchNorm1d after global
 * pooling and flatten, as in RepViT's BN + Linear classifier) into the Gemm that reads it.
 *
 * Before: y = Gemm(BN(v), B, C)        After: y = Gemm(v, B', C')
 * Conditions: BN(v) is read only by the Gemm, as its A input with transA = 0 (so v is [N, K]); BN is in
 *   inference mode with constant parameters; B is a constant float32 [K, M] ([M, K] with transB = 1) and C
 *   absent or a constant broadcasting to [M].
 * Math: BN(v)[k] = s[k] v[k] + t[k] (s = gamma / sqrt(var + epsilon), t = beta - mean * s), so
 *   alpha * BN(v) B + beta * C = alpha * v (diag(s) B) + (alpha * t B + beta * C):
 *   B'[k, m] = s[k] B[k, m], C'[m] = alpha * sum_k t[k] B[k, m] + beta * C[m], and beta' = 1.
 *   There is no padding in a Gemm, so the shift folds exactly.
 */
import { attr, attrFloat, attrInt, type Graph, type Node } from '../ir/graph.js';
import { DataType, dataTypeName } from '../../core/tensor.js';
import { bnAffine } from './lib/conv.js';
import { flatGraphPass, type Pass } from './pass.js';

function fold(g: Graph, bn: Node): string | undefined {
  const y = bn.outputs[0];
  const [gemm] = g.consumers(y);
  if (g.useCount(y) !== 1 || !gemm || gemm.opType !== 'Gemm' || gemm.domain !== '') return undefined;
  if (gemm.inputs[0] !== y) return `it is Gemm ${gemm.name}'s B or C input, not A`;
  if (attrInt(gemm, 'transA', 0)) return `Gemm ${gemm.name} has transA=1`;
  const affine = bnAffine(g, bn);
  if (typeof affine === 'string') return affine;
  const b = g.constant(gemm.inputs[1]);
  if (!b || b.dataType !== DataType.FLOAT || b.dims.length !== 2) {
    return `Gemm ${gemm.name}'s B ${gemm.inputs[1]} is not a constant float32 matrix${b ? ` (${dataTypeName(b.dataType)} [${b.dims}])` : ''}`;
  }
  const transB = attrInt(gemm, 'transB', 0) === 1;
  const [K, M] = transB ? [b.dims[1], b.dims[0]] : b.dims;
  if (affine.scale.length !== K) return `${affine.scale.length} channels, Gemm ${gemm.name} reads ${K} features`;
  const c = gemm.inputs[2] ? g.constantFloats(gemm.inputs[2]) : new Float32Array(1);
  const cDims = gemm.inputs[2] ? g.constant(gemm.inputs[2])?.dims : [];
  if (!c || !cDims || !(c.length === 1 || (c.length === M && cDims[cDims.length - 1] === M && cDims.length <= 2 && (cDims.length < 2 || cDims[0] === 1)))) {
    return `Gemm ${gemm.name}'s C is not a constant broadcasting to [${M}]`;
  }
  const alpha = attrFloat(gemm, 'alpha', 1);
  const beta = attrFloat(gemm, 'beta', 1);
  const src = b.data as Float32Array;
  const w = new Float32Array(K * M);
  const bias = new Float64Array(M);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) {
      const i = transB ? m * K + k : k * M + m;
      w[i] = src[i] * affine.scale[k];
      bias[m] += alpha * affine.shift[k] * src[i];
    }
  }
  for (let m = 0; m < M; m++) bias[m] += beta * (c.length === 1 ? c[0] : c[m]);
  const wName = g.addInitializer(`${gemm.name}.weight`, DataType.FLOAT, b.dims, w);
  const cName = g.addInitializer(`${gemm.name}.bias`, DataType.FLOAT, [M], Float32Array.from(bias));
  g.setInput(gemm, 0, null, bn.inputs[0]);
  g.setInput(gemm, 1, null, wName);
  g.setInput(gemm, 2, null, cName);
  gemm.attrs.beta = attr(1, true);
  g.removeNode(bn);
  return '';
}

export const foldBnIntoGemm: Pass = flatGraphPass({
  name: 'fold-bn-into-gemm',
  rewrite(g, report) {
    for (const bn of g.nodes) {
      if (bn.opType !== 'BatchNormalization' || bn.domain !== '') continue;
      const gemm = g.consumers(bn.outputs[0])[0]?.name;
      const why = fold(g, bn);
      if (why === '') report.changes.push(`folded BatchNormalization ${bn.name} into Gemm ${gemm}`);
      else if (why) report.skipped.push(`BatchNormalization ${bn.name}: ${why}`);
    }
  },
});
