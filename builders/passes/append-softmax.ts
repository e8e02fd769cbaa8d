/**
 * append-softmax: `graph.extra_ops: {type: softmax}` turns every graph output into class probabilities.
 *
 * Before: ... -> P -> y (scores, [N,C] or [N,C,...])
 * After:  ... -> P -> y_logits -> Softmax(axis 1) -> y   (output names, types and shapes kept; nodes that read
 *         y inside the graph keep reading the scores)
 * Conditions: y is produced by a node and that node is not already a Softmax.
 * Class axis: 1 (the ONNX channel axis; for [N,C] it is also the last); rank 1: axis 0. The rank comes from the
 * declared output shape, else from shape inference; when neither knows it, the last axis.
 * Before opset 13 Softmax normalizes over all axes from `axis` on, so for rank > 2 the class axis is moved
 * last by a Transpose, normalized there, and moved back.
 */
import type { Graph, ValueInfo } from '../ir/graph.js';
import { inferShapes } from '../ir/shapes.js';
import { opsetVersion, type Model } from '../ir/model.js';
import type { Pass, PassReport } from './pass.js';

/** Append the Softmax for output `out`, or say why not; returns the one line for the report. */
function append(g: Graph, out: ValueInfo, rank: number | undefined, opset: number): { change: string } | { skipped: string } {
  const y = out.name;
  const producer = g.producer(y);
  if (!producer) return { skipped: `skipped ${y}: no node produces it (a graph input or constant)` };
  if (producer.opType === 'Softmax' && producer.domain === '') return { skipped: `skipped ${y}: already produced by Softmax ${producer.name}` };
  const logits = g.uniqueName(`${y}_logits`);
  for (const n of g.consumers(y)) g.setInput(n, null, y, logits);
  g.renameOutput(producer, producer.outputs.indexOf(y), logits);
  const axis = rank === undefined ? -1 : rank === 1 ? 0 : 1;
  const name = g.uniqueName(`${y}/Softmax`);
  if (opset >= 13 || rank === undefined || rank <= 2) {
    g.addNode({ name, opType: 'Softmax', inputs: [logits], outputs: [y], attrs: { axis } });
    return { change: `Softmax ${name} over axis ${axis}${rank === undefined ? ' (rank unknown: the last axis)' : ''} of ${y} (scores now ${logits})` };
  }
  const toLast = [...Array(rank).keys()].filter((i) => i !== axis).concat(axis);
  const back = toLast.map((_, i) => toLast.indexOf(i));
  const moved = g.uniqueName(`${y}/class_last`);
  const soft = g.uniqueName(`${y}/softmax_class_last`);
  g.addNode({ name: g.uniqueName(`${y}/Transpose`), opType: 'Transpose', inputs: [logits], outputs: [moved], attrs: { perm: toLast } });
  g.addNode({ name, opType: 'Softmax', inputs: [moved], outputs: [soft], attrs: { axis: rank - 1 } });
  g.addNode({ name: g.uniqueName(`${y}/Transpose_back`), opType: 'Transpose', inputs: [soft], outputs: [y], attrs: { perm: back } });
  return { change: `Softmax ${name} over axis ${axis} of ${y}, between Transposes (opset ${opset} Softmax flattens trailing axes)` };
}

export const appendSoftmax: Pass = {
  name: 'append-softmax',
  wanted: (ctx) => ctx.config.graph?.extra_ops?.type === 'softmax',
  run(model: Model): PassReport {
    const g = model.graph;
    const report: PassReport = { changes: [], skipped: [] };
    const opset = opsetVersion(model);
    const inferred = g.outputs.some((o) => !o.shape) ? inferShapes(g) : undefined;
    for (const out of g.outputs) {
      const line = append(g, out, (out.shape ?? inferred?.get(out.name))?.length, opset);
      if ('change' in line) report.changes.push(line.change);
      else report.skipped.push(line.skipped);
    }
    g.sortNodes();
    return report;
  },
};
