/**
 * Calibration for a build, in one call: the YAML's dataset -> files (dataset.ts) -> statistics of the
 * requested tensors on the float model (calibrate.ts) -> one range per tensor for the configured
 * `backend.quantize.calibrate_mode` (range.ts), plus the facts the manifest records.
 *
 *   const { ranges, facts } = await calibrate(config, model, tensorNames, { symmetric, vdsp, warn, notice });
 *   quantGrid(ranges.get(name)!, symmetric) -> { scale, zeroPoint } (range.ts)
 *
 * `model` is the float model as it will be deployed (after the other passes: with baked preprocessing it
 * takes uint8 images, and calibration feeds them as `rebake run` does). It is not modified.
 * Defaults: calibrate_mode percentile, percentile 99.999.
 */
import { RebakeError } from '../../core/errors.js';
import type { BuildConfig, VdspParams } from '../config/types.js';
import type { Model } from '../ir/model.js';
import { collectStatistics, type CollectedStatistics } from './calibrate.js';
import { sampleRecipe, selectCalibrationFiles } from './dataset.js';
import { computeRange, DEFAULT_PERCENTILE, needsHistogram, type CalibrateMode, type Range } from './range.js';
import { DEFAULT_BINS } from './stats.js';

export const DEFAULT_CALIBRATE_MODE: CalibrateMode = 'percentile';

/** What the manifest records about a calibration (enough to reproduce it). */
export interface CalibrationFacts {
  mode: CalibrateMode;
  /** Only for calibrate_mode percentile. */
  percentile?: number;
  /** int8 [-T, T] ranges (true) or uint8 [min, max] (false). */
  symmetric: boolean;
  bins: number;
  dataset: string;
  /** Files that matched the suffix, and those used (chosen and readable). */
  files_found: number;
  files_used: number;
  /** sha256 over the used files (calibrate.ts says how). */
  files_sha256: string;
  skipped: { file: string; reason: string }[];
  seconds: number;
}

export interface CalibrateOptions {
  symmetric: boolean;
  /** The vdsp params of the build (baked or not). */
  vdsp?: VdspParams;
  warn: (line: string) => void;
  notice: (line: string) => void;
  /** A progress bar on a terminal (default true). */
  progress?: boolean;
  threads?: number;
}

export interface CalibrationResult {
  ranges: Map<string, Range>;
  stats: CollectedStatistics;
  facts: CalibrationFacts;
}

export async function calibrate(config: BuildConfig, model: Model, tensorNames: string[], opts: CalibrateOptions): Promise<CalibrationResult> {
  const t0 = performance.now();
  const q = config.backend.quantize ?? {};
  const mode = q.calibrate_mode ?? DEFAULT_CALIBRATE_MODE;
  const percentile = mode === 'percentile' ? (q.percentile ?? DEFAULT_PERCENTILE) : undefined;
  const selection = selectCalibrationFiles(config, opts.warn);
  const inputs = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new RebakeError('CALIB_INPUT', `calibration feeds one image input; the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})`, { file: config.frontend.checkpoint });
  }
  const recipe = sampleRecipe(config, inputs[0], opts.vdsp, opts.notice);
  const stats = await collectStatistics(model, tensorNames, { files: selection.files, recipe, where: config.locate('dataset.path') }, {
    threads: opts.threads,
    histograms: needsHistogram(mode),
    progress: opts.progress ?? true,
  });
  for (const s of stats.skipped) opts.warn(`calibration: skipped ${s.file}: ${s.reason}`);
  const ranges = new Map<string, Range>();
  for (const [name, s] of stats.tensors) {
    if (s.nonFinite) opts.warn(`calibration: tensor ${name}: ${s.nonFinite} NaN or infinite values on the calibration set (left out of its range)`);
    ranges.set(name, computeRange(s, mode, { symmetric: opts.symmetric, percentile }));
  }
  const facts: CalibrationFacts = {
    mode,
    ...(percentile !== undefined ? { percentile } : {}),
    symmetric: opts.symmetric,
    bins: DEFAULT_BINS,
    dataset: selection.root,
    files_found: selection.found,
    files_used: stats.files!.count,
    files_sha256: stats.files!.sha256,
    skipped: stats.skipped,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
  };
  return { ranges, stats, facts };
}
