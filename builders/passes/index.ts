/**
 * The pass table: every build runs these in order, each when `wanted` and not switched off in the YAML's
 * `passes:` map. Add a pass here and nowhere else.
 */
import type { Pass } from './pass.js';

export const PASSES: Pass[] = [];

export function passByName(name: string): Pass | undefined {
  return PASSES.find((p) => p.name === name);
}
