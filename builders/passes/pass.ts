/**
 * The pass contract. A pass rewrites the model in place and reports what it did; when its conditions do
 * not hold it changes nothing and says why (`skipped`). A broken invariant throws InternalError.
 */
import type { Graph } from '../ir/graph.js';
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

/** Nodes carrying a subgraph (If/Loop/Scan) may read values by name, which use counts cannot see. */
function subgraphOwner(g: Graph): string | undefined {
  const n = g.nodes.find((x) => Object.values(x.attrs).some((a) => {
    if (a.kind !== 'opaque') return false;
    const v = a.value as { g?: unknown; graphs?: unknown[] };
    return !!v.g || !!v.graphs?.length;
  }));
  return n && `${n.opType} ${n.name} has a subgraph, which may read values by name: graph left unchanged`;
}

/**
 * A structural pass that always wants to run and rewrites the main graph only: it skips, saying why, when a
 * node carries a subgraph.
 */
export function flatGraphPass(spec: { name: string; summary: string; rewrite(g: Graph, report: PassReport): void }): Pass {
  return {
    name: spec.name,
    summary: spec.summary,
    wanted: () => true,
    run(model: Model): PassReport {
      const owner = subgraphOwner(model.graph);
      if (owner) return { changes: [], skipped: [owner] };
      const report: PassReport = { changes: [], skipped: [] };
      spec.rewrite(model.graph, report);
      return report;
    },
  };
}
