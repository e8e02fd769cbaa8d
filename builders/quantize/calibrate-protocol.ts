/**
 * Messages between calibrate.ts (the parent) and its worker threads (calibrate-worker.ts).
 *
 *   parent --workerData(init)--> worker --ready--> parent
 *   per pass: parent --pass(layouts?)--> every worker; --files/feed--> a worker --done--> parent (one unit
 *   at a time per worker, the next one on its reply); at the end --flush--> every worker --stats--> parent
 */
import type { SourceLocation } from '../../core/errors.js';
import type { CalibrationFile, SampleRecipe } from './dataset.js';
import type { TensorStats } from './stats.js';

export interface FeedTensor {
  type: 'float32' | 'uint8';
  dims: number[];
  data: Float32Array | Uint8Array;
}

export interface WorkerInit {
  /** The model with the calibration outputs added (one copy shared by every worker). */
  model: SharedArrayBuffer;
  /** Every tensor to calibrate, in the caller's order. */
  names: string[];
  /** Those of `names` that are graph inputs (taken from the feed) and those fetched from the session. */
  inputNames: string[];
  fetch: string[];
  intraThreads: number;
  bins: number;
  /** For file units. */
  recipe?: SampleRecipe;
}

export type ToWorker =
  /** Start a pass: `layouts` (the first pass's ranges) makes it a histogram pass. */
  | { type: 'pass'; layouts?: Record<string, { min: number; max: number }> }
  | { type: 'files'; id: number; files: CalibrationFile[] }
  | { type: 'feed'; id: number; feed: Record<string, FeedTensor>; samples: number }
  | { type: 'flush' };

export type FromWorker =
  | { type: 'ready' }
  /** `hashes`: sha256 of each file that went in, in unit order (skipped files left out). */
  | { type: 'done'; id: number; samples: number; skipped: { file: string; reason: string }[]; hashes: string[] }
  | { type: 'stats'; stats: Record<string, TensorStats> }
  | { type: 'error'; code: string; detail: string; location?: SourceLocation };
