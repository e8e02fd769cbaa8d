/**
 * Zoo RepVGG train-time graph -> re-param passes -> deploy graph: one conv per block (+2 per SE block), no
 * BatchNormalization, no Add, the same outputs in onnxruntime at batch 1 and 4 (64x64 inputs: RepVGG is
 * fully convolutional with global pooling). Negative controls: the official convert math with its classic
 * mistakes, written into the same deploy graph, must fail the tolerance the passes meet.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, type Model } from '../../builders/ir/model.js';
import { DataType, makeTensor, toFloat32 } from '../../core/tensor.js';
import { ARCHS, blocksOf, type BlockSpec } from '../../builders/zoo/archs.js';
import { repvggModel, type ZooOptions } from '../../builders/zoo/repvgg.js';
import { maxAbs, maxAbsDiff } from '../helpers/ort.js';
import { compare, decodeCopy, firstOutput, inputTensor, officialKernelBias, opCounts, reparameterize, type Mistakes } from '../helpers/repvgg.js';

const SIZE = 64;

function expectDeployStructure(m: Model, arch: string): void {
  const blocks = blocksOf(ARCHS[arch], SIZE);
  const se = blocks.filter((b) => b.se).length;
  const ops = opCounts(m);
  expect(ops.BatchNormalization ?? 0).toBe(0);
  expect(ops.Add ?? 0).toBe(0);
  expect(ops.Conv).toBe(blocks.length + 2 * se);
  expect(ops.Relu).toBe(blocks.length + se);
}

const cases: [string, ZooOptions, number[]][] = [
  ['tiny', {}, [1, 4]],
  ['tiny', { bnFolded: true }, [1, 4]],
  ['tiny-g4', { opset: 11 }, [1, 4]],
  ['tiny-g4', { bnFolded: true }, [1, 4]],
  ['tiny-g2-se', {}, [1, 4]],
  ['tiny-g2-se', { bnFolded: true, opset: 11 }, [1, 4]],
  ['A0', {}, [1, 4]],
  ['B0', { bnFolded: true }, [1, 4]],
  ['B1g4', { bnFolded: true }, [1]],
];

describe('re-parameterizing zoo RepVGG', () => {
  for (const [arch, opts, batches] of cases) {
    const flavour = `${opts.bnFolded ? 'BN-folded' : 'BN-kept'}, opset ${opts.opset ?? 13}`;
    it(`${arch} (${flavour}): one conv per block, outputs unchanged at batch ${batches.join(' and ')}`, async () => {
      const train = encodeModel(repvggModel(arch, { ...opts, inputSize: SIZE, dynamicBatch: true, seed: 11 }));
      const deploy = decodeCopy(train);
      await reparameterize(deploy);
      expectDeployStructure(deploy, arch);
      const deployBytes = encodeModel(deploy);
      for (const batch of batches) {
        const feeds = { input: inputTensor([batch, 3, SIZE, SIZE], batch) };
        const cmp = compare(await firstOutput(deployBytes, feeds), await firstOutput(train, feeds));
        expect(cmp.diff, `batch ${batch}`).toBeLessThanOrEqual(cmp.tol);
      }
    });
  }
});

describe('negative controls: the official convert math, with and without its classic mistakes', () => {
  const arch = 'tiny-g4'; // grouped layers with identity branches
  const blocks = blocksOf(ARCHS[arch], SIZE);
  const trainModel = repvggModel(arch, { inputSize: SIZE, dynamicBatch: true, seed: 5 });
  const train = encodeModel(trainModel);
  const deploy = decodeCopy(train);
  let deployBytes: Uint8Array;
  beforeAll(async () => {
    await reparameterize(deploy);
    deployBytes = encodeModel(deploy);
  });
  const mergedConv = (m: Model, b: BlockSpec) => m.graph.node(`${b.scope}/rbr_dense/conv/Conv`)!;

  /** The deploy graph with every block's kernel and bias replaced by the reference convert's. */
  function withReferenceKernels(mistakes: Mistakes): Uint8Array {
    const m = decodeCopy(deployBytes);
    for (const b of blocks) {
      const conv = mergedConv(m, b);
      const { kernel, bias, dims } = officialKernelBias(trainModel.graph, b.prefix, mistakes);
      m.graph.setInitializer(makeTensor(conv.inputs[1], DataType.FLOAT, dims, kernel));
      m.graph.setInitializer(makeTensor(conv.inputs[2], DataType.FLOAT, [bias.length], bias));
    }
    return encodeModel(m);
  }

  it('the passes compute the reference kernels and biases', () => {
    for (const b of blocks) {
      const conv = mergedConv(deploy, b);
      const ref = officialKernelBias(trainModel.graph, b.prefix);
      expect(deploy.graph.constant(conv.inputs[1])!.dims).toEqual(ref.dims);
      const w = toFloat32(deploy.graph.constant(conv.inputs[1])!);
      const bias = toFloat32(deploy.graph.constant(conv.inputs[2])!);
      expect(maxAbsDiff(w, ref.kernel), b.prefix).toBeLessThanOrEqual(1e-6 * maxAbs(ref.kernel));
      expect(maxAbsDiff(bias, ref.bias), b.prefix).toBeLessThanOrEqual(1e-6 * maxAbs(ref.bias));
    }
  });

  const mistakes: [string, Mistakes][] = [
    ['none (positive control)', {}],
    ['identity branch dropped', { dropIdentity: true }],
    ['1x1 kernel off-centre', { offCentre1x1: true }],
    ['epsilon ignored', { ignoreEpsilon: true }],
    ['groups ignored in the identity kernel', { ignoreGroups: true }],
  ];
  for (const [name, m] of mistakes) {
    it(`mistake: ${name}`, async () => {
      const variant = withReferenceKernels(m);
      for (const batch of [1, 4]) {
        const feeds = { input: inputTensor([batch, 3, SIZE, SIZE], 20 + batch) };
        const cmp = compare(await firstOutput(variant, feeds), await firstOutput(train, feeds));
        if (name.startsWith('none')) expect(cmp.diff).toBeLessThanOrEqual(cmp.tol);
        else expect(cmp.diff, `batch ${batch}: ${cmp.diff} vs tolerance ${cmp.tol}`).toBeGreaterThan(10 * cmp.tol);
      }
    });
  }
});
