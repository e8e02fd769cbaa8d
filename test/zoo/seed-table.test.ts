/**
 * Every zoo architecture at 224x224, re-parameterized: one conv per block (+2 per SE block), and the
 * parameters and MACs `rebake inspect` reports match the published table of docs/repvgg.md (params within
 * 0.5%, MACs within 3% of its GFLOPs column, which counts multiply-adds). Four of them by default, all with
 * FULL=1 (test/helpers/full.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelStats } from '../../builders/inspect.js';
import { ARCHS, blocksOf } from '../../builders/zoo/archs.js';
import { repvggModel } from '../../builders/zoo/repvgg.js';
import { opCounts, reparameterize } from '../helpers/repvgg.js';
import { cli } from '../helpers/cli.js';
import { FULL } from '../helpers/full.js';

/** Without FULL=1: one of each kind (plain BN-kept, grouped by 2 BN-folded, grouped by 4 BN-kept, SE). */
const FAST = ['A0', 'B1g2', 'B1g4', 'D2se'];


const within = (value: number, target: number, rel: number) => Math.abs(value - target) <= rel * target;

describe('zoo architectures against the seed table', () => {
  const official = Object.values(ARCHS).filter((a) => !a.name.startsWith('tiny'));
  it('covers the official architectures, with the seed table for all but D2se', () => {
    expect(official.map((a) => a.name)).toEqual(['A0', 'A1', 'A2', 'B0', 'B1', 'B1g2', 'B1g4', 'B2', 'B2g4', 'B3', 'B3g4', 'D2se']);
    expect(official.filter((a) => !a.seedTable).map((a) => a.name)).toEqual(['D2se']);
  });

  official.forEach((arch, i) => {
    const bnFolded = i % 2 === 1;
    it.skipIf(!FULL && !FAST.includes(arch.name))(`${arch.name} (${bnFolded ? 'BN-folded' : 'BN-kept'}): structure, params and MACs after re-parameterization`, async () => {
      const m = repvggModel(arch, { bnFolded });
      const before = modelStats(m);
      await reparameterize(m);
      const blocks = blocksOf(arch, 224);
      const se = blocks.filter((b) => b.se).length;
      const ops = opCounts(m);
      expect(ops.BatchNormalization ?? 0).toBe(0);
      expect(ops.Add ?? 0).toBe(0);
      expect(ops.Conv).toBe(blocks.length + 2 * se);
      const after = modelStats(m);
      expect(after.params).toBeLessThan(before.params);
      if (!arch.seedTable) return;
      const { paramsM, gflops } = arch.seedTable;
      expect(within(after.params / 1e6, paramsM, 0.005), `${after.params} params vs ${paramsM} M`).toBe(true);
      expect(within(after.macs / 1e9, gflops, 0.03), `${after.macs} MACs vs ${gflops} G`).toBe(true);
    });
  });

  it('A0 end to end on the command line: zoo -> build -> inspect', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-zoo-a0-'));
    try {
      expect(cli(['zoo', 'A0', '--out', 'a0.onnx', '--seed', '2'], { cwd: dir }).status).toBe(0);
      fs.writeFileSync(path.join(dir, 'a0.yaml'), 'name: a0\nfrontend:\n  type: onnx\n  checkpoint: a0.onnx\n  dtype: fp32\nbackend:\n  type: onnxruntime\n  dtype: fp32\nworkspace:\n  path: ws\n');
      const build = cli(['build', 'a0.yaml'], { cwd: dir });
      expect(build.status, build.stderr).toBe(0);
      const r = cli(['inspect', 'ws/a0/mod', '--json'], { cwd: dir });
      expect(r.status, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout) as { params: number; macs: number; ops: Record<string, number>; passes: { name: string; status: string }[] };
      expect(s.ops).toEqual({ Conv: 22, Relu: 22, GlobalAveragePool: 1, Reshape: 1, Gemm: 1 });
      expect(within(s.params / 1e6, 8.3, 0.005)).toBe(true);
      expect(within(s.macs / 1e9, 1.4, 0.03)).toBe(true);
      const applied = s.passes.filter((p) => p.status === 'applied').map((p) => p.name);
      expect(applied).toEqual(expect.arrayContaining(['fold-constants', 'fuse-bn-into-conv', 'convert-identity-bn-to-conv', 'merge-conv-branches', 'remove-dead-nodes']));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
