/**
 * remove-dead-nodes: drop nodes none of whose outputs is read (by a node or as a graph output), then
 * initializers nothing reads, and value_info of values that no longer exist.
 *
 * Before: Shape -> Gather -> Unsqueeze -> Concat (no readers left), unused initializers
 * After:  gone
 * Conditions: ONNX inference ops have no side effects, so an unread node can go; graph inputs stay
 *   (they are the model's signature). Visiting nodes in reverse topological order removes whole dead
 *   chains in one sweep.
 */

import { flatGraphPass, type Pass } from './pass.js';

export const removeDeadNodes: Pass = flatGraphPass({
  name: 'remove-dead-nodes',
  rewrite(g, report) {
    const removed = new Map<string, number>();
    for (const n of g.topoSort().reverse()) {
      if (n.outputs.some((o) => o !== '' && g.useCount(o) > 0)) continue;
      g.removeNode(n);
      removed.set(n.opType, (removed.get(n.opType) ?? 0) + 1);
    }
    if (removed.size) {
      const total = [...removed.values()].reduce((a, b) => a + b, 0);
      report.changes.push(`removed ${total} dead node(s): ${[...removed].map(([op, k]) => `${k} ${op}`).join(', ')}`);
    }
    let inits = 0;
    let bytes = 0;
    for (const [name, t] of [...g.initializers]) {
      if (g.useCount(name) > 0 || g.isGraphInput(name)) continue;
      g.removeInitializer(name);
      inits++;
      bytes += t.data.byteLength;
    }
    if (inits) report.changes.push(`removed ${inits} unused initializer(s) (${bytes} bytes)`);
    for (const name of [...g.valueInfo.keys()]) if (!g.producer(name)) g.valueInfo.delete(name);
  },
});
