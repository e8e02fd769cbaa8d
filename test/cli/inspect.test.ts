import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelStats } from '../../builders/inspect.js';
import { saveModel } from '../../builders/ir/model.js';
import { tinyClassifier } from '../helpers/models.js';
import { cli } from '../helpers/cli.js';


describe('rebake inspect', () => {
  it('counts parameters and MACs by hand-computed values', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-inspect-'));
    const file = path.join(dir, 'tiny.onnx');
    saveModel(tinyClassifier(), file);
    const r = cli(['inspect', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    // conv1 4x3x3x3+4, conv2 8x4x1x1, fc 10x8+10
    expect(s.params).toBe(108 + 4 + 32 + 80 + 10);
    // conv1: 4*8*8 outputs x 27; conv2 (stride 2): 8*4*4 x 4; fc: 10 x 8
    expect(s.layers).toEqual([
      { node: 'conv1', op: 'Conv', macs: 4 * 8 * 8 * 27 },
      { node: 'conv2', op: 'Conv', macs: 8 * 4 * 4 * 4 },
      { node: 'fc', op: 'Gemm', macs: 80 },
    ]);
    expect(s.macs).toBe(6912 + 512 + 80);
    expect(s.ops).toEqual({ Conv: 2, Relu: 1, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['N', 3, 8, 8] }]);
    const text = cli(['inspect', file]);
    expect(text.stdout).toContain('params  234 (0.00 M)');
    expect(text.stdout).toContain('MACs    7,504');
  });

  it('batch size does not change the per-sample MAC count', () => {
    expect(modelStats(tinyClassifier(8)).macs).toBe(modelStats(tinyClassifier('N')).macs);
  });
});

describe('CLI basics', () => {
  it('--version prints the package version, --help lists commands, unknown commands exit 2', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
    expect(cli(['--version']).stdout.trim()).toBe(pkg.version);
    const help = cli(['--help']);
    expect(help.status).toBe(0);
    for (const c of ['build', 'inspect', 'zoo', 'run', 'image2npz', 'eval']) expect(help.stdout).toContain(`  ${c}`);
    const bad = cli(['frobnicate']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('rebake: command line: unknown command "frobnicate"; commands: build, inspect, zoo, run, image2npz, eval');
    const sub = cli(['build', '--help']);
    expect(sub.status).toBe(0);
    expect(sub.stdout).toMatch(/^Usage: rebake build <config.yaml>/);
  });
});

describe('shape inference', () => {
  it('infers Resize by scales and Reduce* with and without keepdims', async () => {
    const { createModel } = await import('../../builders/ir/model.js');
    const { DataType } = await import('../../core/tensor.js');
    const { inferShapes } = await import('../../builders/ir/shapes.js');
    const m = createModel(13);
    const g = m.graph;
    g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: ['N', 3, 8, 6] }];
    const scales = g.addInitializer('scales', DataType.FLOAT, [4], [1, 1, 2, 0.5]);
    g.addNode({ opType: 'Resize', inputs: ['x', '', scales], outputs: ['r'] });
    g.addNode({ opType: 'ReduceMean', inputs: ['r'], outputs: ['m1'], attrs: { axes: [2, 3], keepdims: 1 } });
    g.addNode({ opType: 'ReduceMax', inputs: ['r'], outputs: ['m0'], attrs: { axes: [-1], keepdims: 0 } });
    g.outputs = [{ name: 'm1', elemType: DataType.FLOAT }, { name: 'm0', elemType: DataType.FLOAT }];
    const s = inferShapes(g);
    expect(s.get('r')).toEqual(['N', 3, 16, 3]);
    expect(s.get('m1')).toEqual(['N', 3, 1, 1]);
    expect(s.get('m0')).toEqual(['N', 3, 16]);
  });
});
