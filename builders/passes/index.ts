/**
 * The pass table: every build runs these in order, each when `wanted` and not switched off in the YAML's
 * `passes:` map. Add a pass here and nowhere else.
 */
import { appendSoftmax } from './append-softmax.js';
import { bakePreprocess } from './bake-preprocess.js';
import { convertIdentityBnToConv } from './convert-identity-bn-to-conv.js';
import { eliminateNopOps } from './eliminate-nop-ops.js';
import { foldConstants } from './fold-constants.js';
import { fuseBnIntoConv } from './fuse-bn-into-conv.js';
import { makeBatchDynamic } from './make-batch-dynamic.js';
import { mergeConvBranches } from './merge-conv-branches.js';
import type { Pass } from './pass.js';
import { removeDeadNodes } from './remove-dead-nodes.js';
import { storeWeightsFp16 } from './store-weights-fp16.js';
import { quantizeInt8 } from './quantize-int8.js';

export const PASSES: Pass[] = [
  // Structural re-parameterization (RepVGG train-time graph -> one conv per block).
  foldConstants,
  eliminateNopOps,
  fuseBnIntoConv,
  convertIdentityBnToConv,
  mergeConvBranches,
  removeDeadNodes,
  // Static batch 1 -> N where provably batch-independent (before the I/O passes read the input shape).
  makeBatchDynamic,
  // I/O: uint8 image in (vdsp preprocessing baked in), then probabilities out.
  bakePreprocess,
  appendSoftmax,
  // Precision (backend.dtype), last: it sees the final weights, preprocessing folded in.
  storeWeightsFp16,
  quantizeInt8,
];
