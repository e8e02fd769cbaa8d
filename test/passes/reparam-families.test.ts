/**
 * The re-param passes on PyTorch exports of the other re-parameterizable families (test/fixtures/
 * reparam_families, see its README): ACNet, DBB, RepViT, FastViT, RepGhost, dense and depthwise. Every
 * BatchNormalization goes, each block's affine region becomes one Conv, and the outputs equal the
 * train-time graph's on onnxruntime (optimizations off) at batch 1 and 4, and PyTorch's own.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../core/npz.js';
import { compare, decodeCopy, firstOutput, opCounts, reparameterize } from '../helpers/repvgg.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';

const DIR = 'test/fixtures/reparam_families';

interface Fixture {
  name: string;
  blocks: number;
}
const summary = JSON.parse(fs.readFileSync(`${DIR}/summary.json`, 'utf8')) as { fixtures: Fixture[] };

/**
 * Convs after re-parameterization: the stem, then per block one Conv for each region (RepViT's channel
 * mixer keeps its two 1x1 convs, its second one added to the block input; RepGhost keeps its primary 1x1).
 */
const CONVS: Record<string, number> = { acnet: 3, acnet_dw: 3, dbb: 3, dbb_dw: 3, repvit: 7, fastvit: 4, repghost: 5 };
/** Adds left: RepViT's residual per block; FastViT's GELU (x * (1 + erf)) per block. */
const ADDS: Record<string, number> = { repvit: 4, fastvit: 3 };

describe('re-parameterizing the ACNet / DBB / RepViT / FastViT / RepGhost fixtures', () => {
  it('has the seven exported families', () => {
    expect(summary.fixtures.map((f) => f.name).sort()).toEqual(Object.keys(CONVS).sort());
  });

  for (const f of summary.fixtures) {
    it(`${f.name}: no BatchNormalization, one Conv per region, outputs unchanged at batch 1 and 4`, async () => {
      const train = fs.readFileSync(`${DIR}/${f.name}.onnx`);
      const deploy = decodeCopy(train);
      const reports = await reparameterize(deploy);
      const ops = opCounts(deploy);
      expect(ops.BatchNormalization ?? 0).toBe(0);
      expect(ops.Conv).toBe(CONVS[f.name]);
      expect(ops.Add ?? 0).toBe(ADDS[f.name] ?? 0);
      expect(ops.Sub ?? 0).toBe(0);
      expect(ops.Pad ?? 0).toBe(0);
      expect(ops.AveragePool ?? 0).toBe(0);
      const collapse = reports['collapse-affine-regions'];
      for (const line of collapse.changes) expect(line).toMatch(/^region ending at .* -> Conv .* nodes -> \d+/);

      const io = readNpz(`${DIR}/${f.name}.io.npz`);
      const x4 = io.get('input')!;
      const torchOut = io.get('output')!.data as Float32Array;
      const [n, ...chw] = x4.shape;
      expect(n).toBe(4);
      const per = chw.reduce((a, b) => a * b, 1);
      for (const input of [new ort.Tensor('float32', x4.data as Float32Array, x4.shape), new ort.Tensor('float32', (x4.data as Float32Array).slice(0, per), [1, ...chw])]) {
        const feeds = { input };
        const cmp = compare(await firstOutput(deploy, feeds), await firstOutput(train, feeds));
        expect(cmp.diff, `batch ${input.dims[0]}`).toBeLessThanOrEqual(cmp.tol);
      }
      const y = await firstOutput(deploy, { input: new ort.Tensor('float32', x4.data as Float32Array, x4.shape) });
      expect(maxAbsDiff(y, torchOut)).toBeLessThanOrEqual(1e-4 * maxAbs(torchOut));
    });
  }
});
