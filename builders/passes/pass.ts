/**
 * The pass contract. A pass rewrites the model in place and reports what it did; when its conditions do
 * not hold it changes nothing and says why (`skipped`). A broken invariant throws InternalError.
 * Passes run only through the pass manager (manager.ts), which builds their context and checks the graph
 * after each.
 */
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { BuildConfig } from '../config/types.js';
import type { VdspParams } from '../config/types.js';

/** What the build gives every pass. */
export interface PassInputs {
  config: BuildConfig;
  /** Preprocessing params when the build bakes preprocessing in. */
  vdsp?: VdspParams;
  /** Where vdsp came from, for messages. */
  vdspFile?: string;
}

/** The inputs plus the services the manager provides (see manager.ts for what each is for). */
export interface PassContext extends PassInputs {
  /** A progress line for the user. */
  progress(line: string): void;
  /** A warning for the user, also kept in this pass's manifest record. */
  warn(line: string): void;
  /** A private temporary folder, made on first call, removed when the pass run ends. */
  scratchDir(): string;
}

export interface PassReport {
  /** One line per change, e.g. "merged 3 branches of /stage1/1 into Conv /stage1/1/merged". */
  changes: string[];
  /** One line per place the pass looked at and left alone, with the reason. */
  skipped: string[];
  /** Anything else the manifest should keep for this pass (JSON-serializable). */
  details?: Record<string, unknown>;
}

export interface Pass {
  /** kebab-case verb + object, same as the file name; the YAML `passes:` map switches it by this name. */
  name: string;
  /** True for passes meant to change the graph's I/O (baked preprocessing, appended softmax). */
  changesSignature?: boolean;
  /** Whether the build wants this pass at all (e.g. bake-preprocess only with vdsp params). */
  wanted(inputs: PassInputs): boolean;
  /** Rewrite `model` in place; may be async (e.g. a stage that runs onnxruntime). */
  run(model: Model, ctx: PassContext): PassReport | Promise<PassReport>;
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
export function flatGraphPass(spec: { name: string; rewrite(g: Graph, report: PassReport): void }): Pass {
  return {
    name: spec.name,
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
