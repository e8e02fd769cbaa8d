/**
 * The re-param passes on real PyTorch exports (test/fixtures/repvgg, see its README): every variant
 * becomes one conv per block (+2 per SE block) with no BatchNormalization and no Add, and its outputs equal
 * the train-time graph's in onnxruntime (and PyTorch's own, recorded in <variant>.io.npz).
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../core/npz.js';
import { compare, decodeCopy, firstOutput, opCounts, reparameterize } from '../helpers/repvgg.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';

const DIR = 'test/fixtures/repvgg';
const VARIANTS = ['folded_static_op13', 'folded_dynamic_op11', 'bn_kept_static_op13', 'grouped_se_folded_dynamic_op13', 'grouped_bn_kept_static_op11'];

interface Variant {
  name: string;
  dynamic_batch: boolean;
  blocks: number;
  se_blocks: number;
}
const summary = JSON.parse(fs.readFileSync(`${DIR}/summary.json`, 'utf8')) as { variants: Variant[] };

function io(name: string): { x: ort.Tensor; y: Float32Array } {
  const arrays = readNpz(`${DIR}/${name}.io.npz`);
  const x = arrays.get('input')!;
  return { x: new ort.Tensor('float32', x.data as Float32Array, x.shape), y: arrays.get('output')!.data as Float32Array };
}

async function deployed(name: string) {
  const train = fs.readFileSync(`${DIR}/${name}.onnx`);
  const deploy = decodeCopy(train);
  const reports = await reparameterize(deploy);
  return { train, deploy, reports };
}

describe('re-parameterizing the PyTorch RepVGG fixtures', () => {
  it('has the five exported variants', () => {
    expect(summary.variants.map((v) => v.name)).toEqual(VARIANTS);
  });

  for (const v of summary.variants) {
    it(`${v.name}: ${v.blocks} blocks -> ${v.blocks + 2 * v.se_blocks} convs, outputs unchanged`, async () => {
      const { train, deploy, reports } = await deployed(v.name);
      const ops = opCounts(deploy);
      expect(ops.BatchNormalization ?? 0).toBe(0);
      expect(ops.Add ?? 0).toBe(0);
      expect(ops.Conv).toBe(v.blocks + 2 * v.se_blocks);
      expect(reports['merge-conv-branches'].changes).toHaveLength(v.blocks);
      expect(reports['merge-conv-branches'].skipped).toEqual([]);

      const { x, y: torchOut } = io(v.name);
      const [n, ...chw] = x.dims;
      // Static exports run at their batch (1); dynamic ones at the recorded batch 4 and at batch 1.
      const inputs = v.dynamic_batch ? [x, new ort.Tensor('float32', (x.data as Float32Array).slice(0, chw.reduce((a, b) => a * b, 1)), [1, ...chw])] : [x];
      expect(inputs.map((t) => t.dims[0])).toEqual(v.dynamic_batch ? [4, 1] : [1]);
      expect(n).toBe(v.dynamic_batch ? 4 : 1);
      for (const input of inputs) {
        const feeds = { input };
        const cmp = compare(await firstOutput(deploy, feeds), await firstOutput(train, feeds));
        expect(cmp.diff, `batch ${input.dims[0]}`).toBeLessThanOrEqual(cmp.tol);
      }
      // Against PyTorch itself (a different framework: the README's ~1e-4 relative).
      const y = await firstOutput(deploy, { input: x });
      expect(maxAbsDiff(y, torchOut)).toBeLessThanOrEqual(1e-4 * maxAbs(torchOut));
    });
  }

  it('the BN-kept and BN-folded exports of the same model re-parameterize to the same function', async () => {
    const { x } = io('folded_static_op13');
    const a = await firstOutput((await deployed('folded_static_op13')).deploy, { input: x });
    const b = await firstOutput((await deployed('bn_kept_static_op13')).deploy, { input: x });
    const cmp = compare(b, a);
    expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
  });
});
