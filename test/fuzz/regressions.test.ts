/**
 * Every crash the fuzzer found, as a named test: each of these once escaped as a raw JavaScript error
 * (exit 1 with a stack) or a multi-line message, and must now be one located RebakeError line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RebakeError } from '../../core/errors.js';
import { decodeNpz, encodeNpz } from '../../core/npz.js';
import { runBuild } from '../../builders/build.js';
import { loadBuildConfig, loadVdspParams } from '../../builders/config/load.js';
import { decodeModel, encodeModel } from '../../builders/ir/model.js';
import { tinyClassifier } from '../helpers/models.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-regress-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function put(name: string, data: string | Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

function rebakeError(f: () => unknown): RebakeError {
  try {
    f();
  } catch (e) {
    if (e instanceof RebakeError) return e;
    throw e;
  }
  throw new Error('expected a RebakeError');
}

const { onnx } = onnxProto;

describe('fuzz regressions', () => {
  it('yaml-text: an alias naming no anchor is a located syntax error (was a ReferenceError from the YAML library)', () => {
    const file = put('alias.yaml', 'name: a\nfrontend:\n  type: onnx\n  checkpoint: *nowhere\n');
    const e = rebakeError(() => loadBuildConfig(file));
    expect(e.code).toBe('CONFIG_SYNTAX');
    expect(e.message).toBe(`${file}:4:15: invalid YAML: alias *nowhere names no anchor (&nowhere) defined before it`);
  });

  it('yaml-text: an alias bomb is refused before it expands (was a ReferenceError)', () => {
    const rows = ['a: &a [1,1,1,1,1,1,1,1,1]'];
    for (const [k, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c']]) rows.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]`);
    const e = rebakeError(() => loadBuildConfig(put('bomb.yaml', `${rows.join('\n')}\n`)));
    expect(e.code).toBe('CONFIG_SYNTAX');
    expect(e.detail).toBe('invalid YAML: too many aliases (over 100 expansions)');
  });

  it('vdsp-text: a JSON syntax error is one located line in our words (was the parser text, with the newlines of the file)', () => {
    const file = put('p.json', '{\n  "OpType": "X",\n  "ColorCvtCode": \u0001,\n  "b": 1\n}\n');
    const e = rebakeError(() => loadVdspParams(file));
    expect(e.code).toBe('CONFIG_SYNTAX');
    expect(e.message).toBe(`${file}:3:19: invalid JSON: expected a value (an object, list, string, number, true, false or null), found "\\u0001"`);
    const cut = rebakeError(() => loadVdspParams(put('cut.json', '{"OpType": "X", "OpConfig": {"a": [1, 2')));
    expect(cut.detail).toBe('invalid JSON: expected "," or "]", found the end of the file');
  });

  it('vdsp sizes: an Oimage area no buffer can hold is refused at load (was a RangeError in host preprocessing)', () => {
    const v = { OpType: 'FUSION_OP_RGB_RESIZE_CVTCOLOR_NORM_TENSOR', OpConfig: { IimageFormat: 'RGB_PLANAR', IimageWidth: 5, IimageHeight: 6, OimageWidth: 65535, OimageHeight: 65535, Mean: [0, 0, 0], Std: [1, 1, 1], NormaType: 'EQUAL', ColorCvtCode: 'NO_CHANGE', ResizeType: 'BILINEAR_CV' } };
    const file = put('huge.json', JSON.stringify(v, null, 1));
    const e = rebakeError(() => loadVdspParams(file));
    expect(e.code).toBe('VDSP_SIZE');
    expect(e.message).toBe(`${file}:7:18 OpConfig.OimageWidth: OimageWidth x OimageHeight is 65535 x 65535 = 4294836225 pixels, over the limit of 67108864 (8192 x 8192)`);
  });

  it('npz-bytes: a central directory record running past the end is NPZ_CORRUPT (was a DataView RangeError)', () => {
    const zip = Buffer.concat(encodeNpz({ input_0: { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 3]) } }));
    const eocd = zip.length - 22;
    const cd = zip.readUInt32LE(eocd + 16);
    zip.writeUInt16LE(0xfff0, cd + 30); // extra field length: far past the end of the file
    const e = rebakeError(() => decodeNpz(zip, 'x.npz'));
    expect(e.code).toBe('NPZ_CORRUPT');
    expect(e.message).toBe('x.npz: corrupt zip: a directory record runs past the end of the file');
  });

  it('onnx-fields: huge dims on a tensor with typed data are refused before allocating (was a RangeError)', () => {
    const proto = onnx.ModelProto.decode(encodeModel(tinyClassifier()));
    const w = proto.graph!.initializer!.find((t) => t.name === 'fc.bias')!;
    const raw = w.rawData!;
    w.floatData = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
    w.rawData = new Uint8Array();
    w.dims = [2 ** 35];
    const e = rebakeError(() => decodeModel(onnx.ModelProto.encode(proto).finish(), 'm.onnx'));
    expect(e.code).toBe('ONNX_TENSOR_SIZE');
    expect(e.message).toBe('m.onnx: tensor fc.bias (float32 [34359738368]): 10 values, dims need 34359738368');
    w.dims = [-10];
    expect(rebakeError(() => decodeModel(onnx.ModelProto.encode(proto).finish(), 'm.onnx')).detail).toBe('tensor fc.bias: dims [-10] must be whole numbers >= 0');
  });

  it('onnx-bytes: a node reading a value nothing defines is ONNX_GRAPH at load (was an InternalError after the first pass)', () => {
    const proto = onnx.ModelProto.decode(encodeModel(tinyClassifier()));
    proto.graph!.node!.find((n) => n.name === 'relu1')!.input = ['missing_value'];
    const e = rebakeError(() => decodeModel(onnx.ModelProto.encode(proto).finish(), 'm.onnx'));
    expect(e.code).toBe('ONNX_GRAPH');
    expect(e.message).toBe('m.onnx: not a valid ONNX graph: node relu1 (Relu) reads missing_value, which nothing defines');
  });

  it('onnx-bytes: a failed build stops its hash worker (was an unhandled rejection once the model file went away)', async () => {
    const model = put('bad.onnx', new Uint8Array([8, 7, 18, 3, 1, 2]));
    const config = put('bad.yaml', `name: bad\nfrontend:\n  type: onnx\n  checkpoint: bad.onnx\nbackend:\n  type: onnxruntime\nworkspace:\n  path: ws\n`);
    await expect(runBuild(config)).rejects.toBeInstanceOf(RebakeError);
    fs.rmSync(model);
    // An unobserved rejection from the worker would fail this test file.
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(path.join(dir, 'ws'))).toBe(false);
  });
});
