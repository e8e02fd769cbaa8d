/**
 * The pass contract. A pass rewrites the model in place and reports what it did; when its conditions do
 * not hold it changes nothing and says why (`skipped`). A broken invariant throws InternalError.
 */
import type { Model } from '../ir/model.js';
import type { BuildConfig } from '../config/types.js';
import type { VdspParams } from '../config/types.js';

export interface PassContext {
  config: BuildConfig;
  /** Preprocessing params when the build bakes preprocessing in. */
  vdsp?: VdspParams;
  /** Where vdsp came from, for messages. */
  vdspFile?: string;
}

export interface PassReport {
  /** One line per change, e.g. "merged 3 branches of /stage1/1 into Conv /stage1/1/merged". */
  changes: string[];
  /** One line per place the pass looked at and left alone, with the reason. */
  skipped: string[];
}

export interface Pass {
  /** kebab-case verb + object, same as the file name; the YAML `passes:` map switches it by this name. */
  name: string;
  summary: string;
  /** True for passes meant to change the graph's I/O (baked preprocessing, appended softmax). */
  changesSignature?: boolean;
  /** Whether the build wants this pass at all (e.g. bake-preprocess only with vdsp params). */
  wanted(ctx: PassContext): boolean;
  run(model: Model, ctx: PassContext): PassReport;
}
