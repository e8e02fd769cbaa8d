/**
 * Property-based fuzzing of every loader a user's file reaches, in process: the YAML config loader, the
 * vdsp params loader (and the host preprocessing it drives), the npz reader (and the runner's input
 * checks), the datalist reader (and the output names it makes), and the ONNX loader (a whole build).
 * Inputs are real fixtures mutated byte- or token-wise, and structure-aware edits of their parsed form.
 * Property: the call returns, or throws a one-line RebakeError; a failed build leaves no build folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { RebakeError } from '../../core/errors.js';
import { decodeNpz, encodeNpz, type NpyArray } from '../../core/npz.js';
import { runBuild } from '../../builders/build.js';
import { loadBuildConfig, loadVdspParams } from '../../builders/config/load.js';
import type { VdspParams } from '../../builders/config/types.js';
import { readDatalist } from '../../core/datalist.js';
import { outputName } from '../../runtime/datalist.js';
import { allocBatch, imageOf, prepareRow } from '../../runtime/prepare.js';
import { preprocess } from '../../builders/preprocess/host.js';
import type { InputPlan } from '../../runtime/protocol.js';
import { counter, fuzz, mutatedBytes, mutatedDoc, mutatedText, returnsOrRebakeError, resolvesOrRebakeError, runs, SEED } from './mutate.js';

const ROOT = path.resolve('.');
let tmp: string;
let t0: number;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-fuzz-'));
  t0 = performance.now();
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`fuzz loaders: ${counter.cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${SEED})\n`);
});

const textsIn = (dir: string, ext: string) => fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(ext)).sort().map((f) => fs.readFileSync(path.join(ROOT, dir, f), 'utf8'));
const bytesIn = (dir: string, ext: string) => fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(ext)).sort().map((f) => new Uint8Array(fs.readFileSync(path.join(ROOT, dir, f))));

let n = 0;
/** A fresh file in the temp folder holding `data`. */
function put(name: string, data: string | Uint8Array): string {
  const file = path.join(tmp, `${n++}-${name}`);
  fs.writeFileSync(file, data);
  return file;
}

describe('YAML build config loader', () => {
  const seeds = [...textsIn('configs', '.yaml'), ...textsIn('test/fixtures/vamc', '.yaml')];
  const check = (text: string) => {
    const file = put('c.yaml', text);
    returnsOrRebakeError(() => {
      const c = loadBuildConfig(file);
      if (c.vdsp_params) loadVdspParams(c.vdsp_params);
    });
    fs.rmSync(file);
  };
  it('mutated text: returns or a located RebakeError', async () => {
    await fuzz('yaml-text', mutatedText(seeds), check, runs(60));
  });
  it('mutated structure: returns or a located RebakeError', async () => {
    const docs = seeds.map((s) => loadBuildConfigDoc(s));
    await fuzz('yaml-doc', fc.integer({ min: 0, max: docs.length - 1 }).chain((k) => mutatedDoc(docs[k])).map((doc) => toYaml(doc)), check, runs(60));
  });
});

function loadBuildConfigDoc(text: string): unknown {
  // The seeds' relative vdsp_params point into the repository; keep that working from the temp folder.
  const doc = (JSON.parse(JSON.stringify(parseYaml(text))) ?? {}) as Record<string, unknown>;
  if (typeof doc.vdsp_params === 'string') doc.vdsp_params = path.join(ROOT, 'vdsp_params', path.basename(doc.vdsp_params));
  return doc;
}

describe('vdsp params loader and host preprocessing', () => {
  const seeds = [...textsIn('vdsp_params', '.json'), ...textsIn('test/fixtures/preprocess/params', '.json')];
  const image = new Uint8Array(3 * 6 * 5).map((_, i) => (i * 37) & 255);
  const check = (text: string) => {
    const file = put('p.json', text);
    returnsOrRebakeError(() => {
      const v = loadVdspParams(file);
      // A tiny image through the whole host pipeline: any size in the params must be checked before it allocates.
      preprocess(image, 3, 6, 5, v);
    });
    fs.rmSync(file);
  };
  it('mutated text: returns or a located RebakeError', async () => {
    await fuzz('vdsp-text', mutatedText(seeds), check, runs(60));
  });
  it('mutated structure: returns or a located RebakeError', async () => {
    const docs = seeds.map((s) => JSON.parse(s) as unknown);
    await fuzz('vdsp-doc', fc.integer({ min: 0, max: docs.length - 1 }).chain((k) => mutatedDoc(docs[k])).map((doc) => JSON.stringify(doc, null, 2)), check, runs(60));
  });
});

describe('npz reader and the runner input checks', () => {
  const vdsp = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/preprocess/params/official-repvgg_a0-vdsp_params.json'), 'utf8')) as VdspParams;
  const plans: InputPlan[] = [
    { name: 'x', dtype: 'uint8', batch: 1, fixedBatch: false, c: 3, h: 8, w: 8 },
    { name: 'x', dtype: 'float32', batch: 1, fixedBatch: false, c: 3, h: 224, w: 224, vdsp },
    { name: 'x', dtype: 'float32', batch: 1, fixedBatch: false, c: 3, h: 8, w: 8 },
  ];
  const image = (dtype: NpyArray['dtype'], shape: number[]): NpyArray => {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'uint8' ? new Uint8Array(count).map((_, i) => i & 255) : dtype === 'float16' ? new Uint16Array(count).fill(0x3c00) : new Float32Array(count).fill(0.5);
    return { dtype, shape, data };
  };
  const join = (chunks: Uint8Array[]) => Uint8Array.from(Buffer.concat(chunks));
  const seeds = [
    ...bytesIn('test/fixtures/repvgg', '.npz'),
    join(encodeNpz({ input_0: image('uint8', [3, 8, 8]) })),
    join(encodeNpz({ input_0: image('float32', [1, 3, 8, 8]), extra: image('float16', [2]) })),
    // numpy's savez_compressed form: deflated members.
    zipSync({ 'input_0.npy': npyMember(image('uint8', [3, 5, 7])) }, { level: 6 }),
  ];
  const check = (bytes: Uint8Array) => {
    returnsOrRebakeError(() => {
      const arrays = decodeNpz(bytes, 'x.npz');
      for (const plan of plans) {
        try {
          const img = imageOf(arrays, 'x.npz', plan);
          prepareRow(img, 'x.npz', plan, allocBatch(plan, 1), 0);
        } catch (e) {
          if (!(e instanceof RebakeError)) throw e;
        }
      }
    });
  };
  it('mutated bytes: returns or a RebakeError naming the file', async () => {
    await fuzz('npz-bytes', mutatedBytes(seeds), check, runs(60));
  });
  it('generated npy headers inside a valid zip: returns or a RebakeError', async () => {
    const header = fc.record({
      descr: fc.constantFrom('|u1', '<f4', '<f2', '>f4', '<i8', '|b1', '<U4', 'O', '<c8', ''),
      fortran: fc.constantFrom('False', 'True', 'false', '0'),
      shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1e20)), { maxLength: 5 }),
      data: fc.uint8Array({ maxLength: 600 }),
      major: fc.constantFrom(1, 2, 3, 4),
    });
    await fuzz('npy-header', header.map((h) => npzWith(npyBytes(h))), check, runs(100));
  });
});

/** The .npy image of `arr`: the one stored member of the zip encodeNpz writes. */
function npyMember(arr: NpyArray): Uint8Array {
  const zip = Buffer.concat(encodeNpz({ a: arr }));
  const nameLen = zip.readUInt16LE(26);
  return zip.subarray(30 + nameLen, 30 + nameLen + zip.readUInt32LE(18));
}

function npyBytes(h: { descr: string; fortran: string; shape: number[]; data: Uint8Array; major: number }): Uint8Array {
  const dict = `{'descr': '${h.descr}', 'fortran_order': ${h.fortran}, 'shape': (${h.shape.join(', ')}${h.shape.length === 1 ? ',' : ''}), }\n`;
  const head = Buffer.alloc(h.major === 1 ? 10 : 12);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, h.major, 0]).copy(head);
  if (h.major === 1) head.writeUInt16LE(dict.length, 8);
  else head.writeUInt32LE(dict.length, 8);
  return Uint8Array.from(Buffer.concat([head, Buffer.from(dict, 'latin1'), h.data]));
}

function npzWith(member: Uint8Array): Uint8Array {
  return zipSync({ 'input_0.npy': member }, { level: 0 });
}

describe('datalist reader and output names', () => {
  const seeds = ['a/0.npz\nb/1.npz\n', 'x.npz\r\n\r\ny.npz', '/abs/path/img_000.npz\n../up/img.npz\n./here.npz\n'];
  const line = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('.', '..', '../..', '/', '/dev/fd/0', 'a/..', '..npz', '.npz', 'a/b/../../../c.npz', ' x.npz ', 'x.NPZ', '\u0000.npz'),
  );
  const check = (text: string | Uint8Array) => {
    const file = put('list.txt', text);
    const r = returnsOrRebakeError(() => readDatalist(file));
    if (Array.isArray(r)) {
      const out = path.join(tmp, 'out');
      r.forEach((entry, i) => {
        const name = outputName(i, r.length, entry);
        // Whatever the entry says, its output lands directly in the output folder.
        expect(path.dirname(path.join(out, name))).toBe(out);
        expect(name).not.toMatch(/^\.\.?$/);
      });
    }
    fs.rmSync(file);
  };
  it('mutated and generated lists: entries or a RebakeError; every output name stays in the output folder', async () => {
    await fuzz('datalist', fc.oneof(mutatedText(seeds), fc.array(line, { maxLength: 8 }).map((l) => l.join('\n')), fc.uint8Array({ maxLength: 64 })), check, runs(100));
  });
});

describe('ONNX loader, through a whole build', () => {
  const { onnx } = onnxProto;
  const seeds = bytesIn('test/fixtures/repvgg', '.onnx');
  const ws = () => path.join(tmp, 'ws');
  const build = async (bytes: Uint8Array) => {
    const model = put('m.onnx', bytes);
    const config = put('c.yaml', `name: fuzz\nfrontend:\n  type: onnx\n  checkpoint: ${path.basename(model)}\nbackend:\n  type: onnxruntime\nworkspace:\n  path: ${ws()}\n`);
    const r = await resolvesOrRebakeError(() => runBuild(config));
    if (r instanceof RebakeError) expect(fs.existsSync(path.join(ws(), 'fuzz'))).toBe(false);
    fs.rmSync(ws(), { recursive: true, force: true });
    fs.rmSync(model);
    fs.rmSync(config);
  };
  it('mutated bytes: a build or a RebakeError, and nothing left behind on error', async () => {
    await fuzz('onnx-bytes', mutatedBytes(seeds), build, runs(25));
  });
  it('mutated protobuf fields: a build or a RebakeError, and nothing left behind on error', async () => {
    const protos = seeds.map((b) => onnx.ModelProto.decode(b));
    const edit = fc.tuple(fc.constantFrom('dims', 'dtype', 'raw', 'attr', 'input', 'drop-node', 'io-shape', 'opset'), fc.nat(), fc.oneof(fc.integer({ min: -3, max: 70 }), fc.constantFrom(0, 2 ** 31, 2 ** 40)));
    const mutated = fc.tuple(fc.integer({ min: 0, max: protos.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 3 })).map(([k, edits]) => {
      const p = onnx.ModelProto.decode(onnx.ModelProto.encode(protos[k]).finish());
      const g = p.graph!;
      const inits = g.initializer!;
      const nodes = g.node!;
      for (const [what, at, v] of edits) {
        const init = inits[at % inits.length];
        const node = nodes[at % nodes.length];
        const dims = init.dims!;
        const raw = init.rawData!;
        const attrs = node.attribute!;
        const inputs = node.input!;
        if (what === 'dims') dims[at % Math.max(dims.length, 1)] = v;
        else if (what === 'dtype') init.dataType = v;
        else if (what === 'raw') init.rawData = raw.subarray(0, Math.max(0, Math.min(raw.length, v)));
        else if (what === 'attr' && attrs.length) {
          const a = attrs[at % attrs.length];
          if (a.ints?.length) a.ints[at % a.ints.length] = v;
          else a.i = v;
        } else if (what === 'input' && inputs.length) inputs[at % inputs.length] = nodes[v % nodes.length]?.output?.[0] ?? 'nowhere';
        else if (what === 'drop-node') nodes.splice(at % nodes.length, 1);
        else if (what === 'io-shape') {
          const dim = g.input?.[0]?.type?.tensorType?.shape?.dim;
          if (dim?.length) dim[at % dim.length] = { dimValue: v };
        } else if (what === 'opset') p.opsetImport[0].version = v;
      }
      return onnx.ModelProto.encode(p).finish();
    });
    await fuzz('onnx-fields', mutated, build, runs(25));
  });
});
