/** Real PyTorch exports (test/fixtures/repvgg, made by tools/export_repvgg_fixtures.py) survive load + save bit for bit. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeModel, loadModel } from '../../builders/ir/model.js';
import { floatTensor, runOrt } from '../helpers/ort.js';

const DIR = 'test/fixtures/repvgg';
const exports = fs.readdirSync(DIR).filter((f) => f.endsWith('.onnx'));

describe('PyTorch exports round-trip through the IR', () => {
  it('has fixtures to check', () => {
    expect(exports.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of exports) {
    it(`${file}: outputs bit-identical after load + save with no passes`, async () => {
      const original = fs.readFileSync(path.join(DIR, file));
      const model = loadModel(path.join(DIR, file));
      const input = model.graph.inputs[0];
      const dims = input.shape!.map((d) => (typeof d === 'number' && d > 0 ? d : 2));
      const feeds = { [input.name]: floatTensor(dims, 42) };
      const want = await runOrt(new Uint8Array(original), feeds);
      const got = await runOrt(encodeModel(model), feeds);
      for (const name of Object.keys(want)) {
        const a = want[name].data as Float32Array;
        const b = got[name].data as Float32Array;
        expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
      }
    });
  }
});
