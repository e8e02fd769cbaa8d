/**
 * eliminate-nop-ops: drop ops that return their input unchanged (onnx/optimizer's eliminate_nop_pad,
 * eliminate_identity, eliminate_nop_dropout, eliminate_nop_cast).
 *
 * Before: x -> Pad(pads all 0) -> y      (the PyTorch exporter puts one in front of every SE block's pooling)
 *         x -> Identity -> y
 *         x -> Dropout (inference) -> y
 *         x -> Cast(to = type of x) -> y
 * After:  the readers of y read x.
 * Conditions: Pad's pads are constant (input, or the attribute before opset 11) and all zero: with no
 *   padding the mode and the pad value never apply. Dropout's mask output is unread and its training_mode
 *   input absent or a constant false (inference Dropout is the identity whatever the ratio). Cast only when
 *   x's element type is known and equals `to`. y must not be a graph output: the output names are the
 *   model's signature.
 * The math: each is the identity map y = x.
 */
import { attrInt, attrInts, type Graph, type Node } from '../ir/graph.js';
import { flatGraphPass, type Pass } from './pass.js';

/** Ops whose output has the element type of their first input. */
const SAME_TYPE = new Set(['Identity', 'Pad', 'Dropout', 'Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Clip', 'Conv', 'ConvTranspose', 'BatchNormalization', 'Add', 'Sub', 'Mul', 'Div', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Reshape', 'Flatten', 'Transpose', 'Slice', 'Concat', 'Gemm', 'MatMul', 'Softmax', 'Squeeze', 'Unsqueeze', 'Resize']);

/** Element type of a value: declared, or carried forward from the input of type-preserving ops. */
function elemType(g: Graph, v: string): number | undefined {
  for (let depth = 0; depth < 10_000; depth++) {
    const known = g.valueType(v)?.elemType;
    if (known) return known;
    const p = g.producer(v);
    if (!p || p.domain !== '') return undefined;
    if (p.opType === 'Cast') return attrInt(p, 'to', -1);
    if (!SAME_TYPE.has(p.opType)) return undefined;
    v = p.inputs[0];
  }
  return undefined;
}

/** Why `n` is not a no-op, or undefined when it is. */
function notNop(g: Graph, n: Node): string | undefined {
  switch (n.opType) {
    case 'Identity':
      return undefined;
    case 'Pad': {
      const pads = n.inputs[1] !== undefined ? g.constantInts(n.inputs[1]) : attrInts(n, 'pads', []);
      if (!pads) return 'pads are not constant';
      return pads.every((p) => p === 0) ? undefined : 'pads are not all zero';
    }
    case 'Dropout': {
      if (n.outputs[1] && g.useCount(n.outputs[1]) > 0) return 'its mask output is read';
      const training = n.inputs[2] ? g.constantInts(n.inputs[2]) : [0];
      return training && training.every((v) => v === 0) ? undefined : 'training_mode may be true';
    }
    case 'Cast': {
      const from = elemType(g, n.inputs[0]);
      return from !== undefined && from === attrInt(n, 'to', -1) ? undefined : 'it changes the element type (or the input type is unknown)';
    }
    default:
      return 'not a no-op kind';
  }
}

const KINDS = new Set(['Identity', 'Pad', 'Dropout', 'Cast']);

export const eliminateNopOps: Pass = flatGraphPass({
  name: 'eliminate-nop-ops',
  rewrite(g, report) {
    const removed = new Map<string, number>();
    for (const n of g.nodes) {
      if (n.domain !== '' || !KINDS.has(n.opType)) continue;
      const why = notNop(g, n);
      if (why) {
        if (n.opType !== 'Cast' && n.opType !== 'Pad') report.skipped.push(`${n.opType} ${n.name}: ${why}`);
        continue;
      }
      const [x, y] = [n.inputs[0], n.outputs[0]];
      if (g.isGraphOutput(y)) {
        report.skipped.push(`${n.opType} ${n.name}: its output ${y} is a graph output`);
        continue;
      }
      g.replaceAllUses(y, x);
      g.removeNode(n);
      removed.set(n.opType, (removed.get(n.opType) ?? 0) + 1);
    }
    if (removed.size) report.changes.push(`removed ${[...removed].map(([op, k]) => `${k} ${op}`).join(', ')}`);
  },
});
