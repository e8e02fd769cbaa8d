/**
 * bench:quant — int8 and fp16 builds against fp32, side by side in one run, each measured as the user runs it:
 * a whole `rebake run -m <build> -b 8 --duration S` process (performance mode, its default worker layout).
 * Rounds interleave every model (fp32, int8, probe, ... in a rotating order), so load drifts hit all alike.
 *
 *   zoo A0: configs/zoo_official_repvgg_int8.yaml as it is (calibrated on the committed photos), its fp32
 *           twin (the same YAML with dtype fp32), and the probe: the fp32 build with every Conv/Gemm quantized
 *           with weight-range scales and fixed activation ranges, no calibration (the host's int8 ceiling,
 *           not an accuracy reference).                                     target: int8 / probe >= 0.9
 *   demo:   configs/demo_fp32.yaml vs configs/demo_int8.yaml, and its probe.
 *   activation type: the A0 probe with uint8 activations vs int8 activations (the build uses the faster one).
 *   fp16:   the A0 fp16 build (float16 storage, Cast to float32) vs the same weights computing in float16.
 * Also prints calibration seconds per 100 images (from the int8 builds' manifests) and the CPU's flags.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runBuild, type BuildResult } from '../builders/build.js';
import { loadModel, saveModel, type Model } from '../builders/ir/model.js';
import { insertQdq, planQuantization, type ActivationType, type QdqOptions, type TensorRange } from '../builders/quantize/qdq.js';
import { DataType, makeTensor, toFloat32 } from '../core/tensor.js';
import { toHalf } from '../builders/passes/store-weights-fp16.js';
import { median } from './lib.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CLI = path.resolve('bin/rebake.js');

function cpuFlags(): string {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const wanted = ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'amx_int8', 'avx512_fp16', 'f16c'];
  return `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores; ${wanted.map((f) => `${f}:${flags.has(f) ? 'yes' : 'no'}`).join(' ')}`;
}

function rebake(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rebake ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stderr;
}

/** samples/s of one `rebake run` performance measurement. */
function throughput(model: string, dir: string): number {
  const report = path.join(dir, 'report.json');
  rebake(['run', '-m', model, '-b', '8', '--duration', String(SECONDS), '--report', report]);
  return (JSON.parse(fs.readFileSync(report, 'utf8')) as { throughput: number }).throughput;
}

/** Every Conv/Gemm quantized with weight-range scales and fixed activation ranges: no calibration. */
function probe(fp32File: string, out: string, activation: ActivationType): string {
  const m = loadModel(fp32File);
  const opts: QdqOptions = { perChannel: true, activation };
  const plan = planQuantization(m, opts);
  const relu = new Set(plan.nodes.filter((p) => p.foldedRelu).map((p) => m.graph.node(p.foldedRelu!)!.outputs[0]));
  const ranges = new Map<string, TensorRange>(plan.tensors.map((t) => [t, relu.has(t) ? { min: 0, max: 8 } : { min: -8, max: 8 }]));
  insertQdq(m, plan, ranges, opts);
  saveModel(m, out);
  return out;
}

/** The same weights computing in float16: every float tensor float16, Casts at the graph's input and output. */
function fp16Compute(fp32File: string, out: string): string {
  const m: Model = loadModel(fp32File);
  const g = m.graph;
  for (const [name, t] of [...g.initializers]) if (t.dataType === DataType.FLOAT) g.setInitializer(makeTensor(name, DataType.FLOAT16, t.dims, toHalf(toFloat32(t))));
  for (const v of g.valueInfo.values()) if (v.elemType === DataType.FLOAT) v.elemType = DataType.FLOAT16;
  for (const input of g.inputs.filter((i) => i.elemType === DataType.FLOAT)) {
    const half = g.uniqueName(`${input.name}_fp16`);
    for (const n of g.consumers(input.name)) g.setInput(n, null, input.name, half);
    g.addNode({ opType: 'Cast', inputs: [input.name], outputs: [half], attrs: { to: DataType.FLOAT16 } });
  }
  for (const output of g.outputs) {
    const p = g.producer(output.name)!;
    const half = g.uniqueName(`${output.name}_fp16`);
    g.renameOutput(p, p.outputs.indexOf(output.name), half);
    g.addNode({ opType: 'Cast', inputs: [half], outputs: [output.name], attrs: { to: DataType.FLOAT } });
  }
  g.sortNodes();
  saveModel(m, out);
  return out;
}

/**
 * A copy of `yaml` with another dtype and name, in `dir` (relative paths made absolute against the original);
 * `calibration` swaps the dataset for another folder of images.
 */
function variant(yaml: string, dir: string, dtype: string, calibration?: { path: string; suffix: string; count: number }): string {
  const base = path.dirname(path.resolve(yaml));
  const tag = calibration ? `${dtype}_calib${calibration.count}` : dtype;
  let text = fs.readFileSync(yaml, 'utf8').replace(/^name:\s*(\S+)/m, (_, n: string) => `name: ${n}_${tag}_bench`).replace(/^(\s+dtype:\s*)int8\s*$/m, `$1${dtype}`);
  if (calibration) {
    text = text.replace(/^(\s+path:\s*)\S*calib\S*\s*$/m, `$1${path.resolve(calibration.path)}`).replace(/^(\s+suffix:\s*)\S+/m, `$1${calibration.suffix}`).replace(/^(\s+get_data_num:\s*)\d+/m, `$1${calibration.count}`);
  }
  text = text.replace(/^(\s*(?:checkpoint|path|vdsp_params):\s*)(\S+)\s*$/gm, (_, k: string, p: string) => `${k}${path.resolve(base, p)}`);
  const out = path.join(dir, `${path.basename(yaml, '.yaml')}_${tag}.yaml`);
  fs.writeFileSync(out, text);
  return out;
}

function calibrationPer100(b: BuildResult): string {
  const pass = b.manifest.passes.find((p) => p.name === 'quantize-int8');
  const cal = pass?.details?.calibration as { seconds: number; files_used: number } | undefined;
  return cal ? `${((cal.seconds / cal.files_used) * 100).toFixed(2)} s per 100 images (${cal.files_used} images in ${cal.seconds.toFixed(2)} s)` : 'n/a';
}

interface Row {
  label: string;
  model: string;
  samples: number[];
}

function measureSideBySide(rows: Row[], dir: string): void {
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < rows.length; k++) {
      const row = rows[(k + r) % rows.length];
      row.samples.push(throughput(row.model, dir));
    }
  }
}

function ratio(a: Row, b: Row): string {
  const per = a.samples.map((x, i) => x / b.samples[i]);
  return `${median(per).toFixed(2)}x (rounds ${Math.min(...per).toFixed(2)}..${Math.max(...per).toFixed(2)})`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-bench-quant-'));
  try {
    console.log(`cpu: ${cpuFlags()}`);
    console.log(`load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (1/5/15 min); ${ROUNDS} rounds x ${SECONDS} s per model, batch 8`);
    fs.mkdirSync('deploy_weights/zoo', { recursive: true });
    if (!fs.existsSync('deploy_weights/zoo/repvgg_a0.onnx')) rebake(['zoo', 'A0', '--out', 'deploy_weights/zoo/repvgg_a0.onnx']);

    const zooInt8 = await runBuild('configs/zoo_official_repvgg_int8.yaml');
    const zooFp32 = await runBuild(variant('configs/zoo_official_repvgg_int8.yaml', dir, 'fp32'));
    const demoFp32 = await runBuild('configs/demo_fp32.yaml');
    const demoInt8 = await runBuild('configs/demo_int8.yaml');
    const zooFp16 = await runBuild(variant('configs/zoo_official_repvgg_int8.yaml', dir, 'fp16'));
    // Calibration cost with enough images to see past the worker start-up: A0 on 200 of the demo's PNGs.
    const zooCalib200 = await runBuild(variant('configs/zoo_official_repvgg_int8.yaml', dir, 'int8', { path: 'tools/demo_model/images', suffix: 'png', count: 200 }));

    const a0 = { fp32: { label: 'A0 fp32', model: zooFp32.modelPath, samples: [] }, int8: { label: 'A0 int8', model: zooInt8.modelPath, samples: [] },
      probe: { label: 'A0 probe (uint8)', model: probe(zooFp32.modelPath, path.join(dir, 'a0_probe_u8.onnx'), 'uint8'), samples: [] },
      probeS8: { label: 'A0 probe (int8 activations)', model: probe(zooFp32.modelPath, path.join(dir, 'a0_probe_s8.onnx'), 'int8'), samples: [] } } satisfies Record<string, Row>;
    const demo = { fp32: { label: 'demo fp32', model: demoFp32.modelPath, samples: [] }, int8: { label: 'demo int8', model: demoInt8.modelPath, samples: [] },
      probe: { label: 'demo probe', model: probe(demoFp32.modelPath, path.join(dir, 'demo_probe.onnx'), 'uint8'), samples: [] } } satisfies Record<string, Row>;
    const fp16 = { storage: { label: 'A0 fp16 (storage + Cast)', model: zooFp16.modelPath, samples: [] },
      compute: { label: 'A0 fp16 (float16 compute)', model: fp16Compute(zooFp32.modelPath, path.join(dir, 'a0_fp16_compute.onnx')), samples: [] } } satisfies Record<string, Row>;
    const rows: Row[] = [...Object.values(a0), ...Object.values(demo), ...Object.values(fp16)];
    measureSideBySide(rows, dir);

    for (const r of rows) console.log(`${r.label.padEnd(30)} ${median(r.samples).toFixed(1).padStart(8)} samples/s  (rounds ${r.samples.map((x) => x.toFixed(1)).join(', ')})`);
    console.log('');
    console.log(`A0   int8 / fp32      ${ratio(a0.int8, a0.fp32)}`);
    console.log(`A0   probe / fp32     ${ratio(a0.probe, a0.fp32)}`);
    console.log(`A0   int8 / probe     ${ratio(a0.int8, a0.probe)}   target >= 0.9`);
    console.log(`A0   uint8 / int8 activations (probe)  ${ratio(a0.probe, a0.probeS8)}   (> 1: uint8 is faster here)`);
    console.log(`demo int8 / fp32      ${ratio(demo.int8, demo.fp32)}`);
    console.log(`demo int8 / probe     ${ratio(demo.int8, demo.probe)}`);
    console.log(`A0   fp16 storage / fp16 compute  ${ratio(fp16.storage, fp16.compute)}`);
    console.log(`A0   fp16 storage / fp32          ${ratio(fp16.storage, a0.fp32)}`);
    console.log(`calibration A0:   ${calibrationPer100(zooInt8)}, start-up included`);
    console.log(`calibration A0:   ${calibrationPer100(zooCalib200)} (the demo's PNGs through the zoo's process_ops)`);
    console.log(`calibration demo: ${calibrationPer100(demoInt8)}`);
    console.log(`file size: A0 int8 ${(zooInt8.manifest.model_bytes / 1e6).toFixed(1)} MB vs fp32 ${(zooFp32.manifest.model_bytes / 1e6).toFixed(1)} MB; A0 fp16 ${(zooFp16.manifest.model_bytes / 1e6).toFixed(1)} MB`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
