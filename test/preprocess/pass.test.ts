/**
 * bake-preprocess on small models built in code: structure (which ops, in which order, what got folded) and
 * numerical equivalence on onnxruntime-node (optimizations disabled): baked model fed uint8 images vs the
 * original model fed the host-preprocessed float tensors (the host is checked against OpenCV/numpy in
 * host.test.ts).
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { VdspParams } from '../../builders/config/types.js';
import { RebakeError } from '../../core/errors.js';
import { cloneModel, type Model } from '../../builders/ir/model.js';
import { DataType, floatToHalf, halfToFloat } from '../../core/tensor.js';
import { bakePreprocess } from '../../builders/passes/bake-preprocess.js';
import { preprocess } from '../../builders/preprocess/host.js';
import { maxAbs, maxAbsDiff, runOrt } from '../helpers/ort.js';
import { runPass, passInputs } from '../helpers/passes.js';
import { convsModel, identityModel, reluFirstModel, withInputSize } from '../helpers/preprocess-models.js';
import { preprocessRecord, vdsp } from './fixtures.js';

/** Seeded uint8 images [n,3,h,w] with smooth structure plus noise. */
function images(n: number, h: number, w: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n * 3 * h * w);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const x = i % w;
    const y = Math.floor(i / w) % h;
    out[i] = (((x * 3 + y * 5) & 255) + (s >>> 28)) & 255;
  }
  return out;
}

const opTypes = (m: Model) => m.graph.topoSort().map((n) => n.opType);
const CTX_FILE = 'params.json';

/**
 * Bake `p` into a copy of `m`, run both: baked on the uint8 batch, original on the host-preprocessed batch.
 * Returns the baked model and the max abs difference over all outputs relative to the output scale.
 */
async function bakeAndCompare(m: Model, p: VdspParams, n = 2): Promise<{ baked: Model; rel: number; changes: string[]; skipped: string[] }> {
  const c = p.OpConfig;
  const baked = cloneModel(m);
  const { changes, skipped } = await runPass(bakePreprocess, baked, passInputs(p, { vdspFile: CTX_FILE }));
  const img = images(n, c.IimageHeight, c.IimageWidth);
  const per = 3 * c.IimageHeight * c.IimageWidth;
  const size = 3 * c.OimageHeight * c.OimageWidth;
  const floats = new Float32Array(n * size);
  for (let i = 0; i < n; i++) preprocess(img.subarray(i * per, (i + 1) * per), 3, c.IimageHeight, c.IimageWidth, p, floats, i * size);
  const isHalf = m.graph.inputs[0].elemType === DataType.FLOAT16;
  const ref = await runOrt(m, {
    x: isHalf ? new ort.Tensor('float16', Uint16Array.from(floats, floatToHalf), [n, 3, c.OimageHeight, c.OimageWidth]) : new ort.Tensor('float32', floats, [n, 3, c.OimageHeight, c.OimageWidth]),
  });
  const got = await runOrt(baked, { x: new ort.Tensor('uint8', img, [n, 3, c.IimageHeight, c.IimageWidth]) });
  let rel = 0;
  for (const o of m.graph.outputs) {
    const a = asFloats(ref[o.name].data);
    const b = asFloats(got[o.name].data);
    rel = Math.max(rel, maxAbsDiff(a, b) / Math.max(1, maxAbs(a)));
  }
  return { baked, rel, changes, skipped };
}

const asFloats = (d: unknown) => (d instanceof Uint16Array ? Float32Array.from(d, halfToFloat) : (d as Float32Array));

const repvgg = () => vdsp('repvgg');
const ppl = () => vdsp('pplcnet_doc_ori');

describe('bake-preprocess: folding into the first Conv', () => {
  it('RepVGG stem (3x3, stride 2, pad 1), repvgg params: Slice -> Cast -> Sub -> Conv, scale folded, no Mul/Div', async () => {
    const m = convsModel(224, 224, [{ outC: 8, stride: 2, pads: 1 }]);
    const { baked, rel, changes } = await bakeAndCompare(m, repvgg());
    expect(opTypes(baked)).toEqual(['Slice', 'Cast', 'Sub', 'Conv', 'Relu']);
    expect(baked.graph.inputs).toEqual([{ name: 'x', elemType: DataType.UINT8, shape: ['N', 3, 256, 256] }]);
    expect(rel).toBeLessThan(1e-5);
    expect(changes.some((l) => /^scale: .*folded into the weights of Conv \/stem0\/conv/.test(l))).toBe(true);
    expect(changes).toContain(
      'mean: subtract [123.702, 116.294, 103.531] per output channel before Conv /stem0/conv (/stem0/conv (pads 1,1,1,1) zero-pads: a mean in the bias would be wrong at the borders): /preprocess/normalize/Sub',
    );
    const steps = Object.fromEntries(preprocessRecord(baked).steps.map((s) => [s.step, s.placement]));
    expect(steps).toEqual({ resize: 'none', crop: 'graph', 'channel swap': 'none', scale: 'folded', mean: 'graph' });
  });

  it('a mean folded into the bias instead would be wrong at the padded borders (the test can tell)', async () => {
    const m = convsModel(224, 224, [{ outC: 8, stride: 2, pads: 1 }]);
    const { baked } = await bakeAndCompare(m, repvgg());
    // Fold the Sub into the bias by hand, as a naive pass would, and show the outputs diverge at the borders.
    const g = baked.graph;
    const sub = g.nodes.find((n) => n.opType === 'Sub')!;
    const conv = g.nodes.find((n) => n.opType === 'Conv')!;
    const mean = g.constantFloats(sub.inputs[1])!;
    const w = g.constantFloats(conv.inputs[1])!;
    const b = Float32Array.from(g.constantFloats(conv.inputs[2])!);
    const k = w.length / (8 * 3);
    for (let o = 0; o < 8; o++) for (let r = 0; r < 3; r++) for (let i = 0; i < k; i++) b[o] -= w[(o * 3 + r) * k + i] * mean[r];
    g.setInitializer({ name: conv.inputs[2], dataType: DataType.FLOAT, dims: [8], data: b });
    g.replaceAllUses(sub.outputs[0], sub.inputs[0]);
    g.removeNode(sub);
    const img = images(1, 256, 256);
    const good = await bakeAndCompare(m, repvgg(), 1);
    const naive = await runOrt(baked, { x: new ort.Tensor('uint8', img, [1, 3, 256, 256]) });
    const exact = await runOrt(good.baked, { x: new ort.Tensor('uint8', img, [1, 3, 256, 256]) });
    const a = naive.y0.data as Float32Array;
    const e = exact.y0.data as Float32Array;
    // The interior agrees; the top row and left column (where the pad-1 conv reads padding) do not.
    let interior = 0;
    let border = 0;
    for (let c = 0; c < 8; c++) {
      for (let y = 0; y < 112; y++) {
        for (let x = 0; x < 112; x++) {
          const i = (c * 112 + y) * 112 + x;
          const d = Math.abs(a[i] - e[i]);
          if (y === 0 || x === 0) border = Math.max(border, d);
          else interior = Math.max(interior, d);
        }
      }
    }
    expect(interior).toBeLessThan(1e-3);
    expect(border).toBeGreaterThan(0.05);
  });

  it('unpadded Conv, BGR2RGB, no crop: mean and swap folded too: Cast -> Conv', async () => {
    const m = convsModel(224, 224, [{ outC: 6, kernel: 3, pads: 0, stride: 1 }]);
    const before = m.graph.constantFloats('/stem0/conv.bias')!;
    const { baked, rel, changes } = await bakeAndCompare(m, ppl());
    expect(opTypes(baked)).toEqual(['Cast', 'Conv', 'Relu']);
    expect(rel).toBeLessThan(1e-5);
    expect(changes.some((l) => /^channel swap: BGR2RGB.*folded into the input channels of Conv \/stem0\/conv/.test(l))).toBe(true);
    expect(changes.some((l) => /^mean: .*folded into the bias of Conv \/stem0\/conv/.test(l))).toBe(true);
    const conv = baked.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(maxAbsDiff(baked.graph.constantFloats(conv.inputs[2])!, before)).toBeGreaterThan(0.1);
  });

  it('two Convs read the input (one padded): both folded, one shared Sub', async () => {
    const m = convsModel(224, 224, [{ outC: 4, pads: 1 }, { outC: 5, kernel: 1, pads: 0, bias: false }]);
    const { baked, rel } = await bakeAndCompare(m, repvgg());
    expect(opTypes(baked).filter((t) => t === 'Sub')).toHaveLength(1);
    expect(opTypes(baked).filter((t) => t === 'Mul' || t === 'Div')).toHaveLength(0);
    const sub = baked.graph.nodes.find((n) => n.opType === 'Sub')!;
    expect(baked.graph.consumers(sub.outputs[0]).map((n) => n.opType)).toEqual(['Conv', 'Conv']);
    expect(rel).toBeLessThan(1e-5);
  });

  it('dynamic batch: 5 images in one run', async () => {
    const m = convsModel(224, 224, [{ outC: 8, stride: 2 }]);
    expect((await bakeAndCompare(m, repvgg(), 5)).rel).toBeLessThan(1e-5);
  });

  it('resize in the graph (BILINEAR_CV 300x200 -> 256x256), then crop and fold', async () => {
    const m = convsModel(224, 224, [{ outC: 4, stride: 2 }]);
    const { baked, rel, changes } = await bakeAndCompare(m, withInputSize(repvgg(), 200, 300));
    const ops = opTypes(baked);
    // Two row taps x two column taps of Gathers; the crop is resampled as a window: no Slice.
    expect([ops.filter((t) => t === 'Gather').length, ops.includes('Slice')]).toEqual([6, false]);
    expect(ops.slice(-5)).toEqual(['Transpose', 'Cast', 'Sub', 'Conv', 'Relu']);
    const steps = preprocessRecord(baked).steps;
    expect(steps.find((s) => s.step === 'crop')!.nodes).toEqual(steps.find((s) => s.step === 'resize')!.nodes);
    expect(changes.some((l) => l.startsWith('resize: BILINEAR_CV resize 300x200 -> 256x256: /preprocess/resize/Gather'))).toBe(true);
    expect(rel).toBeLessThan(1e-5);
  });

  it('letterbox (300x200 -> 512x512, pad 114) on a Conv network', async () => {
    const m = convsModel(512, 512, [{ outC: 4, stride: 2 }]);
    const { baked, rel } = await bakeAndCompare(m, withInputSize(vdsp('centernet_res18'), 200, 300), 1);
    const pad = baked.graph.nodes.find((n) => n.opType === 'Pad')!;
    expect(baked.graph.constantInts(pad.inputs[1])).toEqual([0, 0, 85, 0, 0, 0, 86, 0]);
    expect(rel).toBeLessThan(1e-5);
  });
});

describe('bake-preprocess: explicit ops when folding is not possible', () => {
  it('input feeds a Relu: Gather (swap) -> Cast -> Sub -> Mul before it, reason recorded', async () => {
    const m = reluFirstModel(224, 224);
    const { baked, rel, skipped } = await bakeAndCompare(m, ppl());
    expect(opTypes(baked)).toEqual(['Gather', 'Cast', 'Sub', 'Mul', 'Relu', 'Conv', 'Identity']);
    expect(skipped).toContain('normalization not folded: Relu relu reads the network input; explicit ops instead');
    expect(rel).toBeLessThan(1e-6);
  });

  it('grouped (depthwise) Conv is not folded', async () => {
    const m = convsModel(224, 224, [{ outC: 3, group: 3 }]);
    const { baked, rel, skipped } = await bakeAndCompare(m, repvgg());
    expect(opTypes(baked)).toEqual(['Slice', 'Cast', 'Sub', 'Mul', 'Conv', 'Relu']);
    expect(skipped.some((l) => l.includes('grouped (group 3)'))).toBe(true);
    expect(rel).toBeLessThan(1e-6);
  });

  it('the explicit path equals the host bit for bit (DIV255, DIV1275_MINUSONE: no fixture has them)', async () => {
    for (const norm of ['DIV255', 'DIV1275_MINUSONE', 'EQUAL'] as const) {
      const p = { ...repvgg(), OpConfig: { ...repvgg().OpConfig, NormaType: norm } };
      const { rel } = await bakeAndCompare(identityModel(224, 224), p, 1);
      expect(rel).toBe(0);
    }
    const host = preprocess(new Uint8Array(3 * 256 * 256).fill(255), 3, 256, 256, { ...repvgg(), OpConfig: { ...repvgg().OpConfig, NormaType: 'DIV1275_MINUSONE' } });
    expect(host.every((v) => v === 1)).toBe(true);
  });

  it('float16 network input: fp16 Cast/Sub/Mul', async () => {
    const m = identityModel(224, 224, 'N', 13, DataType.FLOAT16);
    const { baked, rel } = await bakeAndCompare(m, repvgg(), 1);
    expect(baked.graph.nodes.find((n) => n.opType === 'Cast')!.attrs.to).toEqual({ kind: 'int', value: DataType.FLOAT16 });
    expect(rel).toBeLessThan(2e-3); // fp16 rounding of values up to 2.7
  });

  it('a static batch stays static (the graph may depend on it)', async () => {
    const m = convsModel(224, 224, [{}], 1);
    const { baked, skipped } = await bakeAndCompare(m, repvgg(), 1);
    expect(baked.graph.inputs[0].shape).toEqual([1, 3, 256, 256]);
    expect(skipped.some((l) => l.startsWith('batch dimension stays 1'))).toBe(true);
  });
});

describe('bake-preprocess: metadata', () => {
  it('writes rebake.preprocess with every step placement, keeping other metadata', async () => {
    const m = convsModel(224, 224, [{ outC: 8, stride: 2 }]);
    m.rest.metadataProps = [{ key: 'author', value: 'x' }];
    await runPass(bakePreprocess, m, passInputs(repvgg(), { vdspFile: '/some/dir/official-repvgg_a0-vdsp_params.json' }));
    expect(m.rest.metadataProps!.map((p) => p.key)).toEqual(['author', 'rebake.preprocess']);
    const rec = preprocessRecord(m);
    expect(rec.vdsp_params).toBe('official-repvgg_a0-vdsp_params.json');
    expect(rec.input).toEqual({ name: 'x', dtype: 'uint8', shape: ['N', 3, 256, 256], format: 'RGB_PLANAR' });
    expect(rec.network_input).toEqual({ name: 'x_preprocessed', dtype: 'float32', shape: ['N', 3, 224, 224] });
    expect(m.graph.consumers('x_preprocessed').map((n) => n.opType)).toEqual(['Conv']);
    expect(rec.steps.map((s) => [s.step, s.placement])).toEqual([
      ['resize', 'none'],
      ['crop', 'graph'],
      ['channel swap', 'none'],
      ['scale', 'folded'],
      ['mean', 'graph'],
    ]);
    expect(rec.steps[1].nodes).toEqual(['/preprocess/crop/Slice']);
  });
});

describe('bake-preprocess: bad input (RebakeError naming file and field)', () => {
  const expectError = async (baking: Promise<unknown>, code: string, file: string, path?: string) => {
    const err = await baking.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RebakeError);
    const r = err as RebakeError;
    expect([r.code, r.location?.file, r.location?.path]).toEqual([code, file, path]);
  };
  const bake = (m: Model, p: VdspParams) => runPass(bakePreprocess, m, passInputs(p, { vdspFile: CTX_FILE }));

  it('output size different from the network input', async () => {
    await expectError(bake(convsModel(200, 224, [{}]), repvgg()), 'VDSP_MODEL_MISMATCH', CTX_FILE, 'OpConfig.OimageHeight');
    await expectError(bake(convsModel(224, 200, [{}]), repvgg()), 'VDSP_MODEL_MISMATCH', CTX_FILE, 'OpConfig.OimageWidth');
  });

  it('wrong channel count', async () => {
    const m = convsModel(224, 224, [{}]);
    m.graph.inputs[0].shape = ['N', 1, 224, 224];
    await expectError(bake(m, repvgg()), 'VDSP_MODEL_MISMATCH', CTX_FILE, 'OpConfig.IimageFormat');
  });

  // Crops outside the resize and unknown enums never reach the pass: loadVdspParams rejects them with a
  // line and column (test/cli/bad-input.test.ts). What the schema allows but the pass cannot do is refused here.
  it('an input format the pass cannot bake', async () => {
    const p = repvgg();
    await expectError(bake(convsModel(224, 224, [{}]), { ...p, OpConfig: { ...p.OpConfig, IimageFormat: 'BGR888' } }), 'VDSP_UNSUPPORTED', CTX_FILE, 'OpConfig.IimageFormat');
  });

  it('model problems name the model file', async () => {
    const two = convsModel(224, 224, [{}]);
    two.graph.inputs.push({ name: 'x2', elemType: DataType.FLOAT, shape: [1] });
    await expectError(bake(two, repvgg()), 'PREPROCESS_INPUTS', 'model.onnx');
    const old = convsModel(224, 224, [{}], 'N', 10);
    await expectError(bake(old, repvgg()), 'PREPROCESS_OPSET', 'model.onnx');
    const done = convsModel(224, 224, [{}]);
    await runPass(bakePreprocess, done, passInputs(repvgg()));
    await expectError(bake(done, repvgg()), 'PREPROCESS_INPUT_DTYPE', 'model.onnx');
  });

  it('is wanted only with vdsp params', () => {
    expect(bakePreprocess.wanted(passInputs(undefined))).toBe(false);
    expect(bakePreprocess.wanted(passInputs(repvgg()))).toBe(true);
  });
});
