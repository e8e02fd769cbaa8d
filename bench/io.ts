/**
 * bench:io — the cost of going through rebake's IR on a ~500 MB model, against the floor: a bare protobufjs
 * decode + encode of the same file. Each measurement runs in a fresh child process (peak RSS is per process),
 * alternating the two kinds, and prints the median ratios:
 *   time(build with every pass off) / time(bare read + decode + encode + write)   target <= 1.5
 *   peak RSS(build) / file size                                                    target <= 2.5
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel, saveModel } from '../builders/ir/model.js';
import { DataType } from '../core/tensor.js';
import { PASSES } from '../builders/passes/index.js';
import { inChild, median, runAsChild, writeConfig, type ChildResult } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** A chain of 512->512 3x3 convs on a 4x4 map: ~9.4 MB of weights per layer, valid and runnable. */
function makeBigModel(file: string, targetBytes: number): void {
  const m = createModel(13, 'rebake-bench');
  const g = m.graph;
  const C = 512;
  const per = C * C * 9;
  const layers = Math.ceil(targetBytes / (per * 4));
  g.inputs = [{ name: 'x', elemType: DataType.FLOAT, shape: [1, C, 4, 4] }];
  let prev = 'x';
  let seed = 1;
  for (let i = 0; i < layers; i++) {
    const w = new Float32Array(per);
    for (let j = 0; j < per; j++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      w[j] = (seed / 4294967296 - 0.5) * 0.01;
    }
    const wName = g.addInitializer(`layer${i}.weight`, DataType.FLOAT, [C, C, 3, 3], w);
    const out = i === layers - 1 ? 'y' : `h${i}`;
    g.addNode({ opType: 'Conv', inputs: [prev, wName], outputs: [out], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
    prev = out;
  }
  g.outputs = [{ name: 'y', elemType: DataType.FLOAT, shape: [1, C, 4, 4] }];
  saveModel(m, file);
}

async function main(): Promise<void> {
  if (await runAsChild()) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-bench-io-'));
  try {
    const model = path.join(dir, 'big.onnx');
    const sizeMb = Number(process.env.BENCH_IO_MB ?? 500);
    makeBigModel(model, sizeMb * 1e6);
    const fileBytes = fs.statSync(model).size;
    const yaml = writeConfig(dir, 'big', model, PASSES.map((p) => p.name));
    console.log(`model: ${(fileBytes / 1e6).toFixed(0)} MB, ${ROUNDS} rounds each, alternating, fresh process per run`);
    const bare: ChildResult[] = [];
    const build: ChildResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bare.push(inChild(SELF, 'bare', model, dir));
      build.push(inChild(SELF, 'build', yaml, dir));
    }
    const tb = median(bare.map((r) => r.seconds));
    const tr = median(build.map((r) => r.seconds));
    const rss = median(build.map((r) => r.maxRssBytes));
    const rssBare = median(bare.map((r) => r.maxRssBytes));
    console.log(`bare protobufjs read+decode+encode+write: ${tb.toFixed(2)} s, peak RSS ${(rssBare / 1e6).toFixed(0)} MB`);
    console.log(`rebake build, no passes:                  ${tr.toFixed(2)} s, peak RSS ${(rss / 1e6).toFixed(0)} MB`);
    const timeRatio = tr / tb;
    const rssRatio = rss / fileBytes;
    console.log(`time ratio build/bare: ${timeRatio.toFixed(2)} (target <= 1.5) ${timeRatio <= 1.5 ? 'OK' : 'MISSED'}`);
    console.log(`peak RSS / file size:  ${rssRatio.toFixed(2)} (target <= 2.5) ${rssRatio <= 2.5 ? 'OK' : 'MISSED'}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
