/** Calibration test helpers: a YAML config with a dataset, written to a temp folder and loaded for real. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBuildConfig } from '../../builders/config/load.js';
import type { BuildConfig } from '../../builders/config/types.js';
import { createModel, type Model } from '../../builders/ir/model.js';
import { DataType } from '../../core/tensor.js';
import { seededFloats } from '../helpers/ort.js';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rebake-${prefix}-`));
}

/** Write `yaml` (a whole config after the fixed header) as `<dir>/c.yaml` and load it. */
export function configIn(dir: string, body: string, notices: string[] = []): BuildConfig {
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `name: t\nfrontend: {type: onnx, checkpoint: model.onnx}\nbackend: {type: onnxruntime, dtype: int8}\n${body}`);
  return loadBuildConfig(file, { notice: (l) => notices.push(l) });
}

/** Empty files (or given bytes) at relative paths under `root`. */
export function touch(root: string, rels: string[], bytes: Uint8Array = new Uint8Array(0)): void {
  for (const r of rels) {
    fs.mkdirSync(path.dirname(path.join(root, r)), { recursive: true });
    fs.writeFileSync(path.join(root, r), bytes);
  }
}

/**
 * A uint8-input model as bake-preprocess leaves it: x uint8 [N,3,h,w] -> Cast -> xf -> Conv 3x3 -> c ->
 * Relu -> y.
 */
export function uint8Model(h: number, w: number): Model {
  const m = createModel(13);
  const g = m.graph;
  g.inputs = [{ name: 'x', elemType: DataType.UINT8, shape: ['N', 3, h, w] }];
  g.addNode({ name: 'cast', opType: 'Cast', inputs: ['x'], outputs: ['xf'], attrs: { to: DataType.FLOAT } });
  const wt = g.addInitializer('conv.weight', DataType.FLOAT, [4, 3, 3, 3], seededFloats(108, 3).map((v) => v / 100));
  g.addNode({ name: 'conv', opType: 'Conv', inputs: ['xf', wt], outputs: ['c'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
  g.addNode({ name: 'relu', opType: 'Relu', inputs: ['c'], outputs: ['y'] });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: ['N', 4, h, w] }];
  return m;
}

/** A float-input model x float32 [N,3,h,w] -> Relu -> y (the input itself is what calibration sees). */
export function floatModel(h: number, w: number, layout: 'chw' | 'hwc' = 'chw'): Model {
  const m = createModel(13);
  const g = m.graph;
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: layout === 'chw' ? ['N', 3, h, w] : ['N', h, w, 3] }];
  g.addNode({ name: 'relu', opType: 'Relu', inputs: ['x'], outputs: ['y'] });
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: undefined }];
  return m;
}
