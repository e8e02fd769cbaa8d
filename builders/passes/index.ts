/**
 * The pass table: every build runs these in order, each when `wanted` and not switched off in the YAML's
 * `passes:` map. Add a pass here and nowhere else.
 */
import { convertIdentityBnToConv } from './convert-identity-bn-to-conv.js';
import { foldConstants } from './fold-constants.js';
import { fuseBnIntoConv } from './fuse-bn-into-conv.js';
import { mergeConvBranches } from './merge-conv-branches.js';
import type { Pass } from './pass.js';
import { removeDeadNodes } from './remove-dead-nodes.js';

export const PASSES: Pass[] = [
  // Structural re-parameterization (RepVGG train-time graph -> one conv per block).
  foldConstants,
  fuseBnIntoConv,
  convertIdentityBnToConv,
  mergeConvBranches,
  removeDeadNodes,
];

export function passByName(name: string): Pass | undefined {
  return PASSES.find((p) => p.name === name);
}
