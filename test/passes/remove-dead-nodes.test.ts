import { describe, expect, it } from 'vitest';
import { DataType } from '../../core/tensor.js';
import { buildAndCompare, decodeCopy, inputTensor, opCounts, reparameterize, TestGraph } from '../helpers/repvgg.js';

/** conv -> Relu (output), conv (also an output), and a dead Conv -> Relu -> Sigmoid chain plus an orphan weight. */
function withDeadParts(): TestGraph {
  const t = new TestGraph(['N', 3, 6, 6]);
  const c = t.conv('x', { out: 4 });
  t.op('Sigmoid', [t.op('Relu', [t.conv(c, { out: 4 })])]);
  t.g.addInitializer('orphan', DataType.FLOAT, [3], [1, 2, 3]);
  t.output(t.op('Relu', [c]), c);
  return t;
}

describe('remove-dead-nodes', () => {
  it('removes unread chains and unused initializers, keeps what graph outputs need', async () => {
    const { deploy, reports, cmp } = await buildAndCompare(withDeadParts().bytes(), inputTensor([2, 3, 6, 6], 1));
    expect(opCounts(deploy)).toEqual({ Conv: 1, Relu: 1 });
    expect(reports['remove-dead-nodes'].changes).toEqual(['removed 3 dead node(s): 1 Sigmoid, 1 Relu, 1 Conv', `removed 2 unused initializer(s) (${4 * 4 * 9 * 4 + 12} bytes)`]);
    expect([...deploy.graph.initializers.keys()]).toEqual([deploy.graph.nodes.find((n) => n.opType === 'Conv')!.inputs[1]]);
    expect(cmp.diff).toBe(0);
  });

  it('keeps graph inputs nothing reads (they are the signature)', async () => {
    const t = withDeadParts();
    t.g.inputs.push({ name: 'unused_input', elemType: DataType.FLOAT, shape: [1] });
    const m = decodeCopy(t.bytes());
    await reparameterize(m, ['remove-dead-nodes']);
    expect(m.graph.inputs.map((i) => i.name)).toEqual(['x', 'unused_input']);
  });

  it('every re-param pass leaves a graph with subgraphs alone (they read outer values by name)', async () => {
    const t = withDeadParts();
    const seenBySubgraph = t.op('Relu', ['x']);
    const body = { name: 'then', node: [{ opType: 'Identity', input: [seenBySubgraph], output: ['y'] }], output: [{ name: 'y' }] };
    const cond = t.g.addInitializer('cond', DataType.BOOL, [], [1]);
    t.g.addNode({ opType: 'If', inputs: [cond], outputs: ['branch'], attrs: { then_branch: { kind: 'opaque', value: { name: 'then_branch', type: 5, g: body } }, else_branch: { kind: 'opaque', value: { name: 'else_branch', type: 5, g: body } } } });
    const before = opCounts(t.model);
    const reports = await reparameterize(t.model);
    expect(opCounts(t.model)).toEqual(before);
    for (const r of Object.values(reports)) expect(r).toMatchObject({ status: 'unchanged', changes: [], skipped: [expect.stringMatching(/^If If has a subgraph/)] });
  });
});
