/**
 * bench:reparam — what structural re-parameterization buys and what it costs, on zoo RepVGG models.
 *
 * 1. A0 and B1g4 at 224x224: throughput of the deploy model (`rebake build`, default passes) against the
 *    train-time exports it came from (the default eval export with BN folded into the branch convs, and
 *    the BN-kept export), same ORT session options (all graph optimizations, 2 intra-op threads), batch 1
 *    and 8, the models measured in turn within every round of one process. Plus build seconds.
 * 2. The other families' fixtures (ACNet, DBB, RepViT, FastViT, RepGhost, dense and depthwise; 16 channels,
 *    test/fixtures/reparam_families) at 128x128: deploy build against the BN-kept train-time export, same
 *    session options, batch 1 and 8.
 * 3. B3 (~490 MB): `rebake build` with the passes on against a bare protobufjs read + decode + encode +
 *    write of the same file (the floor bench:io uses) and against the same build with every pass off, each
 *    run in a fresh child process, alternating: time ratio (target <= 1.5) and peak RSS / file size
 *    (target <= 2.5).
 * Env: BENCH_ROUNDS (rounds per measurement, default 9), BENCH_SKIP_B3=1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { runBuild } from '../builders/build.js';
import { saveModel } from '../builders/ir/model.js';
import { PASSES } from '../builders/passes/index.js';
import { repvggModel, type ZooOptions } from '../builders/zoo/repvgg.js';
import { inChild, median, runAsChild, writeConfig, type ChildResult } from './lib.js';

const SELF = fileURLToPath(import.meta.url);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SIZE = 224;
const THREADS = 2;

function writeZoo(dir: string, arch: string, opts: ZooOptions): string {
  const file = path.join(dir, `${arch}${opts.bnFolded ? '_folded' : '_kept'}.onnx`);
  saveModel(repvggModel(arch, { seed: 1, inputSize: SIZE, ...opts }), file);
  return file;
}

async function session(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential' });
}

function input(batch: number, size = SIZE): ort.Tensor {
  const n = batch * 3 * size * size;
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2147483648 - 1;
  }
  return new ort.Tensor('float32', data, [batch, 3, size, size]);
}

/** Images per second of each session, measured in turn within each round; medians over rounds. */
async function throughput(sessions: ort.InferenceSession[], batch: number, size = SIZE): Promise<number[]> {
  const feeds = { input: input(batch, size) };
  // Warm up, and size each measurement to at least ~0.5 s so timer noise does not matter.
  let slowest = 0;
  for (const s of sessions) {
    await s.run(feeds);
    const t0 = performance.now();
    await s.run(feeds);
    slowest = Math.max(slowest, (performance.now() - t0) / 1000);
  }
  const runs = Math.max(1, Math.ceil(0.5 / slowest));
  const times: number[][] = sessions.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < sessions.length; i++) {
      const t0 = performance.now();
      for (let k = 0; k < runs; k++) await sessions[i].run(feeds);
      times[i].push((performance.now() - t0) / 1000 / runs);
    }
  }
  return times.map((ts) => batch / median(ts));
}

async function speed(dir: string, arch: string): Promise<void> {
  const folded = writeZoo(dir, arch, { bnFolded: true, dynamicBatch: true });
  const kept = writeZoo(dir, arch, { dynamicBatch: true });
  const build = async (file: string) => {
    const t0 = performance.now();
    const res = await runBuild(writeConfig(dir, path.basename(file, '.onnx'), file));
    return { res, seconds: (performance.now() - t0) / 1000 };
  };
  const bf = await build(folded);
  const bk = await build(kept);
  console.log(`RepVGG-${arch}: build ${bf.seconds.toFixed(2)} s (from the eval export), ${bk.seconds.toFixed(2)} s (from the BN-kept export)`);
  const sessions = [await session(bf.res.modelPath), await session(folded), await session(kept)];
  for (const batch of [1, 8]) {
    const [deploy, trainFolded, trainKept] = await throughput(sessions, batch);
    console.log(
      `  batch ${batch}: deploy ${deploy.toFixed(1)} img/s | train-time eval export ${trainFolded.toFixed(1)} img/s -> ${(deploy / trainFolded).toFixed(2)}x` +
        ` | train-time BN-kept export ${trainKept.toFixed(1)} img/s -> ${(deploy / trainKept).toFixed(2)}x`,
    );
  }
  for (const s of sessions) await s.release();
}

const FAMILIES_DIR = path.join(path.dirname(SELF), '..', '..', 'test', 'fixtures', 'reparam_families');
const FAMILY_SIZE = 128;

async function families(dir: string): Promise<void> {
  const { fixtures } = JSON.parse(fs.readFileSync(path.join(FAMILIES_DIR, 'summary.json'), 'utf8')) as { fixtures: { name: string }[] };
  console.log(`Other families (16 channels, ${FAMILY_SIZE}x${FAMILY_SIZE}), deploy vs the BN-kept train-time export:`);
  for (const { name } of fixtures) {
    const train = path.join(FAMILIES_DIR, `${name}.onnx`);
    const { modelPath, manifest } = await runBuild(writeConfig(dir, name, train));
    const nodes = (ops: Record<string, number>) => Object.values(ops).reduce((a, b) => a + b, 0);
    const sessions = [await session(modelPath), await session(train)];
    const cells: string[] = [];
    for (const batch of [1, 8]) {
      const [deploy, trained] = await throughput(sessions, batch, FAMILY_SIZE);
      cells.push(`batch ${batch}: ${deploy.toFixed(0)} vs ${trained.toFixed(0)} img/s -> ${(deploy / trained).toFixed(2)}x`);
    }
    console.log(`  ${name.padEnd(9)} ${String(nodes(manifest.ops_before)).padStart(3)} -> ${String(nodes(manifest.ops_after)).padEnd(3)} nodes | ${cells.join(' | ')}`);
    for (const s of sessions) await s.release();
  }
}

async function buildCost(dir: string): Promise<void> {
  const t0 = performance.now();
  const file = writeZoo(dir, 'B3', {});
  const fileBytes = fs.statSync(file).size;
  console.log(`RepVGG-B3 train-time (BN kept): ${(fileBytes / 1e6).toFixed(0)} MB, generated and written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const on = writeConfig(dir, 'b3', file);
  const off = writeConfig(dir, 'b3_off', file, PASSES.map((p) => p.name));
  const runs: Record<'bare' | 'off' | 'on', ChildResult[]> = { bare: [], off: [], on: [] };
  const rounds = Math.max(1, Math.min(ROUNDS, 3));
  for (let i = 0; i < rounds; i++) {
    runs.bare.push(inChild(SELF, 'bare', file, dir));
    runs.off.push(inChild(SELF, 'build', off, dir));
    runs.on.push(inChild(SELF, 'build', on, dir));
  }
  const t = (k: keyof typeof runs) => median(runs[k].map((r) => r.seconds));
  const rss = (k: keyof typeof runs) => median(runs[k].map((r) => r.maxRssBytes));
  const line = (label: string, k: keyof typeof runs) => console.log(`  ${label.padEnd(42)} ${t(k).toFixed(2)} s, peak RSS ${(rss(k) / 1e6).toFixed(0)} MB = ${(rss(k) / fileBytes).toFixed(2)}x file`);
  console.log(`  median of ${rounds}, fresh process each, alternating:`);
  line('bare protobufjs read+decode+encode+write:', 'bare');
  line('rebake build, every pass off:', 'off');
  line('rebake build, re-parameterization on:', 'on');
  const timeRatio = t('on') / t('bare');
  const rssRatio = rss('on') / fileBytes;
  console.log(`  time ratio build/bare: ${timeRatio.toFixed(2)} (target <= 1.5) ${timeRatio <= 1.5 ? 'OK' : 'MISSED'}; re-param passes add ${(t('on') - t('off')).toFixed(2)} s over the same build with passes off (${(t('on') / t('off')).toFixed(2)}x)`);
  console.log(`  peak RSS / file size:  ${rssRatio.toFixed(2)} (target <= 2.5) ${rssRatio <= 2.5 ? 'OK' : 'MISSED'}; passes off ${(rss('off') / fileBytes).toFixed(2)}`);
}

async function main(): Promise<void> {
  if (await runAsChild()) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-bench-reparam-'));
  try {
    const flags = fs.existsSync('/proc/cpuinfo') ? [...new Set(fs.readFileSync('/proc/cpuinfo', 'utf8').match(/\b(avx512f|avx512_vnni|avx2|fma)\b/g) ?? [])].join(' ') : '?';
    console.log(`CPU ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length} (${flags}), load ${os.loadavg()[0].toFixed(1)}`);
    console.log(`ORT ${THREADS} intra-op threads, all graph optimizations, ${SIZE}x${SIZE}, median of ${ROUNDS} rounds; deploy/train > 1 = faster`);
    for (const arch of ['A0', 'B1g4']) await speed(dir, arch);
    await families(dir);
    if (process.env.BENCH_SKIP_B3 !== '1') await buildCost(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
