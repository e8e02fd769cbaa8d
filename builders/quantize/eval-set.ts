/**
 * The evaluation set of the accuracy loop (builders/quantize/accuracy.ts):
 * - `backend.quantize.eval: {datalist, gt}`: the datalist's npz files (image2npz output; entries resolve
 *   against the current folder, as `rebake run` reads them), labelled by the ground truth list;
 * - otherwise the calibration files (the same choice as calibration), unlabelled: the loop then measures
 *   top-1 agreement with the float model.
 * Each file becomes a sample exactly as calibration makes it (dataset.ts); in a labelled set a file that cannot
 * be used is an error (its label would silently drop out), in the calibration set it is left out.
 */
import path from 'node:path';
import { readDatalist, readGroundTruth } from '../../core/datalist.js';
import { RebakeError } from '../../core/errors.js';
import type { BuildConfig, VdspParams } from '../config/types.js';
import type { Model } from '../ir/model.js';
import type { EvalSet } from './accuracy.js';
import { loadSample, sampleRecipe, selectCalibrationFiles, type CalibrationFile } from './dataset.js';
import { sampleShape } from './process-ops.js';

export async function evaluationSet(config: BuildConfig, model: Model, vdsp: VdspParams | undefined): Promise<EvalSet> {
  const recipe = sampleRecipe(config, model.graph.inputs[0], vdsp, () => {});
  const labelled = config.backend.quantize?.eval;
  let files: CalibrationFile[];
  let labels: number[] | undefined;
  let source: string;
  if (labelled) {
    const entries = readDatalist(labelled.datalist);
    const gt = readGroundTruth(labelled.gt);
    files = entries.map((e) => ({ file: path.resolve(e), rel: e }));
    labels = entries.map((e) => {
      const id = gt.get(path.resolve(e));
      if (id === undefined) throw new RebakeError('QUANTIZE_EVAL', `no ground truth for ${e} (an entry of ${labelled.datalist})`, { file: labelled.gt });
      return id;
    });
    source = `${labelled.datalist} (${entries.length} labelled samples)`;
  } else {
    files = selectCalibrationFiles(config, () => {}).files;
    source = `the calibration set (${files.length} files, top-1 agreement with fp32)`;
  }
  const samples: (Uint8Array | Float32Array)[] = [];
  const kept: number[] = [];
  for (const [i, f] of files.entries()) {
    const s = await loadSample(f, recipe);
    if ('skip' in s) {
      if (labels) throw new RebakeError('QUANTIZE_EVAL', `cannot use ${f.rel} for the accuracy check: ${s.skip}`, { file: labelled!.datalist });
      continue;
    }
    samples.push(s.data);
    kept.push(i);
  }
  const spec = recipe.input;
  return {
    input: spec.name, dtype: spec.dtype, dims: sampleShape(spec.layout, spec.h, spec.w), samples, batch1: spec.fixedBatch === 1,
    labels: labels && kept.map((i) => labels![i]), source,
  };
}
