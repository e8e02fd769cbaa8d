/**
 * RepVGG architectures of the official code (docs/repvgg.md) plus small shapes for tests.
 * Widths: stem min(64, 64a), stages 64a, 128a, 256a, 512b; the first block of each stage has stride 2.
 * Layer 0 is the stem, stage blocks are layers 1, 2, ...; g2/g4 variants group the even layers 2..26.
 */

export interface RepvggArch {
  name: string;
  numBlocks: [number, number, number, number];
  /** a, a, a, b */
  widthMultiplier: [number, number, number, number];
  /** Groups used on the even layers 2, 4, ..., 26 (1 = no grouped layers). */
  groups: number;
  /** Squeeze-excitation block (reduction 16) before every block's ReLU, stem included. */
  se: boolean;
  numClasses: number;
  /** The published table of docs/repvgg.md (deploy model, 224x224, FLOPs as multiply-adds). */
  seedTable?: { gflops: number; paramsM: number };
}

const A = [2, 4, 14, 1] as [number, number, number, number];
const B = [4, 6, 16, 1] as [number, number, number, number];
const TINY = [2, 2, 2, 1] as [number, number, number, number];

function arch(name: string, numBlocks: RepvggArch['numBlocks'], a: number, b: number, more: Partial<RepvggArch> = {}): RepvggArch {
  return { name, numBlocks, widthMultiplier: [a, a, a, b], groups: 1, se: false, numClasses: 1000, ...more };
}

export const ARCHS: Record<string, RepvggArch> = Object.fromEntries(
  [
    arch('A0', A, 0.75, 2.5, { seedTable: { gflops: 1.4, paramsM: 8.3 } }),
    arch('A1', A, 1, 2.5, { seedTable: { gflops: 2.4, paramsM: 12.78 } }),
    arch('A2', A, 1.5, 2.75, { seedTable: { gflops: 5.1, paramsM: 25.49 } }),
    arch('B0', B, 1, 2.5, { seedTable: { gflops: 3.1, paramsM: 14.33 } }),
    arch('B1', B, 2, 4, { seedTable: { gflops: 11.8, paramsM: 51.82 } }),
    arch('B1g2', B, 2, 4, { groups: 2, seedTable: { gflops: 8.82, paramsM: 41.36 } }),
    arch('B1g4', B, 2, 4, { groups: 4, seedTable: { gflops: 7.32, paramsM: 36.13 } }),
    arch('B2', B, 2.5, 5, { seedTable: { gflops: 18.39, paramsM: 80.32 } }),
    arch('B2g4', B, 2.5, 5, { groups: 4, seedTable: { gflops: 11.34, paramsM: 55.78 } }),
    arch('B3', B, 3, 5, { seedTable: { gflops: 26.22, paramsM: 110.96 } }),
    arch('B3g4', B, 3, 5, { groups: 4, seedTable: { gflops: 16.08, paramsM: 75.63 } }),
    arch('D2se', [8, 14, 24, 1], 2.5, 5, { se: true }),
    // Small shapes for tests: widths 16, 16, 32, 64, 256; 10 classes; layers 2, 4, 6 have an identity branch.
    arch('tiny', TINY, 0.25, 0.5, { numClasses: 10 }),
    arch('tiny-g4', TINY, 0.25, 0.5, { numClasses: 10, groups: 4 }),
    arch('tiny-g2-se', TINY, 0.25, 0.5, { numClasses: 10, se: true, groups: 2 }),
  ].map((a) => [a.name, a]),
);

export interface BlockSpec {
  /** State-dict prefix: `stage0` for the stem, `stage<s>.<i>` for stage blocks. */
  prefix: string;
  /** Node scope as the exporter writes it: `/stage0`, `/stage1/stage1.0`. */
  scope: string;
  inChannels: number;
  outChannels: number;
  stride: number;
  groups: number;
  identity: boolean;
  se: boolean;
  /** Spatial size of the block's output for the given input size. */
  outSize: number;
}

const GROUPED_LAYERS_MAX = 26;

/** The blocks of an architecture in execution order, for an input of `inputSize` x `inputSize`. */
export function blocksOf(a: RepvggArch, inputSize: number): BlockSpec[] {
  const [wa] = a.widthMultiplier;
  let inPlanes = Math.min(64, Math.floor(64 * wa));
  let size = inputSize / 2;
  const blocks: BlockSpec[] = [
    { prefix: 'stage0', scope: '/stage0', inChannels: 3, outChannels: inPlanes, stride: 2, groups: 1, identity: false, se: a.se, outSize: size },
  ];
  let layer = 1;
  [64, 128, 256, 512].forEach((base, s) => {
    const planes = Math.floor(base * a.widthMultiplier[s]);
    for (let i = 0; i < a.numBlocks[s]; i++) {
      const stride = i === 0 ? 2 : 1;
      if (stride === 2) size /= 2;
      const grouped = a.groups > 1 && layer % 2 === 0 && layer <= GROUPED_LAYERS_MAX;
      blocks.push({
        prefix: `stage${s + 1}.${i}`, scope: `/stage${s + 1}/stage${s + 1}.${i}`, inChannels: inPlanes, outChannels: planes, stride,
        groups: grouped ? a.groups : 1, identity: inPlanes === planes && stride === 1, se: a.se, outSize: size,
      });
      inPlanes = planes;
      layer++;
    }
  });
  return blocks;
}
