/**
 * Messages between the coordinator (the `rebake run` process), its hosts (one OS process per `-p`) and their
 * sessions (one worker thread per `-i`, each owning one ORT session). Discriminated on `type`.
 *
 *   coordinator --init--> host --init--> session
 *   host <--ready-- session; coordinator <--ready(model)-- host
 *   coordinator --plan--> host --plan--> session (performance mode: warm-up) --warm--> host
 *   host --want(n)--> coordinator --batch/ticket...--> host --run--> session --done--> host --result--> coordinator
 *   coordinator --exit--> host --bye(peak RSS)--> coordinator, once every unit is done (a host keeps asking
 *   until then: work may come back from a host that died)
 */
import type { VdspParams } from '../builders/config/types.js';

export type InputDtype = 'uint8' | 'float32' | 'float16';

export interface TensorMeta {
  name: string;
  /** ORT type name: 'float32', 'uint8', ... */
  dtype: string;
  /** Numbers, or strings for symbolic dims. */
  shape: (number | string)[];
}

export interface ModelInfo {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

/** What every host needs to turn an npz (or nothing, in performance mode) into a model input. */
export interface InputPlan {
  name: string;
  dtype: InputDtype;
  /** Samples per run() call. */
  batch: number;
  /** The model's batch dim is a fixed number: short batches are padded (padding rows are never reported). */
  fixedBatch: boolean;
  c: number;
  h: number;
  w: number;
  /** Host preprocessing for a float model fed uint8 images; absent: plain cast. */
  vdsp?: VdspParams;
}

export interface Plan {
  mode: 'datalist' | 'perf';
  input: InputPlan;
  /** Performance mode: run() calls per session before the measurement starts. */
  warmup: number;
}

export interface WorkItem {
  /** Index in the full datalist. */
  index: number;
  file: string;
}

export interface OutTensor {
  dtype: string;
  dims: number[];
  data: Float32Array | Uint16Array | Uint8Array | Int32Array | Float64Array | BigInt64Array;
}

/** One run() call: its wall time, and when it started and ended (epoch ms, comparable across processes). */
export interface RunTiming {
  ms: number;
  start: number;
  end: number;
}

export interface BadItem {
  index: number;
  file: string;
  code: string;
  message: string;
}

export type ToHost =
  | { type: 'init'; modelPath: string; sessions: number; threads: number; spin: boolean }
  | { type: 'plan'; plan: Plan }
  | { type: 'batch'; id: number; items: WorkItem[] }
  | { type: 'ticket'; id: number }
  /** All work is done (or the run is over): exit now. */
  | { type: 'exit' };

/** `peakRssBytes`: the host process's peak resident memory so far (getrusage), reported with every answer. */
export type FromHost =
  | { type: 'ready'; model: ModelInfo; peakRssBytes: number }
  | { type: 'want'; n: number }
  /** `rows[i]` is the datalist index of output row i (empty for a ticket); no timing when nothing ran (all bad). */
  | { type: 'result'; id: number; rows: number[]; outputs: OutTensor[]; bad: BadItem[]; session: number; timing?: RunTiming; peakRssBytes: number }
  | { type: 'fatal'; code: string; message: string; file?: string }
  /** The answer to `exit`, the host's last word. */
  | { type: 'bye'; peakRssBytes: number };

export type ToSession =
  | { type: 'init'; modelPath: string; threads: number; spin: boolean }
  | { type: 'plan'; plan: Plan }
  /** Datalist items to read and run, or none: run the synthetic input again. */
  | { type: 'run'; id: number; items?: WorkItem[] };

export type FromSession =
  | { type: 'ready'; model: ModelInfo }
  | { type: 'warm' }
  | { type: 'done'; id: number; rows: number[]; outputs: OutTensor[]; bad: BadItem[]; timing?: RunTiming }
  | { type: 'fatal'; code: string; message: string; file?: string };
