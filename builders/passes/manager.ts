/**
 * The pass manager: runs a pass table over one model, in order, and is the only place that does.
 *
 * For each pass: skipped with status `disabled` when the YAML's `passes:` map switches it off, `not-wanted`
 * when `wanted(inputs)` says the build does not need it; otherwise `run` (sync, or async when it returns a
 * Promise), then `graph.check()` (plus the I/O signature unless the pass declares `changesSignature`), then
 * one PassRecord for the manifest and one progress line. A failing pass or check stops the run.
 * A list of sync passes finishes synchronously: the returned promise is already settled.
 *
 * What a pass may use is all in its PassContext, the same for every pass, so a stage that needs more than the
 * model (e.g. a calibration stage: clone the model with `cloneModel`, add the tensors to measure as graph
 * outputs, write the clone under `ctx.scratchDir()` for worker threads to open in onnxruntime, read the
 * images under `ctx.config.dataset.path`, report with `ctx.progress`/`ctx.warn`, and return what the manifest
 * should keep in `PassReport.details`) needs no new hook here:
 * - `config`, `vdsp`, `vdspFile`: the build's inputs, paths already absolute;
 * - `progress(line)`: a progress line for the user (stderr in the CLI);
 * - `warn(line)`: a warning for the user, also kept in the pass's record (`warnings`);
 * - `scratchDir()`: a private temporary folder, made on first use and removed when the run ends, whatever
 *   the outcome (never inside the workspace, so a failed build leaves nothing there).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Model } from '../ir/model.js';
import type { Pass, PassContext, PassInputs, PassReport } from './pass.js';

export type PassStatus = 'applied' | 'unchanged' | 'not-wanted' | 'disabled';

/** One pass as the manifest records it. */
export interface PassRecord {
  name: string;
  status: PassStatus;
  changes: string[];
  skipped: string[];
  /** Present when the pass warned (see PassContext.warn). */
  warnings?: string[];
  /** Present when the pass returned details (PassReport.details). */
  details?: Record<string, unknown>;
  seconds: number;
}

export interface RunPassesOptions {
  /** The YAML's `passes:` map: a pass mapped to false is not run. */
  switches?: Record<string, boolean>;
  /** Progress lines: one per pass as it finishes or is disabled, and whatever a pass reports. */
  progress?: (line: string) => void;
  /** Warnings (without a `warning: ` prefix); default: to progress as `warning: <line>`. */
  warn?: (line: string) => void;
}

function isPromise(x: PassReport | Promise<PassReport>): x is Promise<PassReport> {
  return typeof (x as Promise<PassReport>).then === 'function';
}

/** Run `passes` over `model` in order, checking the graph after each; returns one record per pass. */
export async function runPasses(model: Model, passes: readonly Pass[], inputs: PassInputs, opts: RunPassesOptions = {}): Promise<PassRecord[]> {
  const progress = opts.progress ?? (() => {});
  const warn = opts.warn ?? ((line: string) => progress(`warning: ${line}`));
  let scratch: string | undefined;
  const records: PassRecord[] = [];
  try {
    for (const pass of passes) {
      const rec: PassRecord = { name: pass.name, status: 'disabled', changes: [], skipped: [], seconds: 0 };
      records.push(rec);
      if (opts.switches?.[pass.name] === false) {
        progress(`${pass.name}: disabled by config`);
        continue;
      }
      if (!pass.wanted(inputs)) {
        rec.status = 'not-wanted';
        continue;
      }
      const ctx: PassContext = {
        ...inputs,
        progress,
        warn(line) {
          (rec.warnings ??= []).push(line);
          warn(line);
        },
        scratchDir: () => (scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-build-'))),
      };
      const signature = model.graph.signature();
      const p0 = performance.now();
      const out = pass.run(model, ctx);
      const report = isPromise(out) ? await out : out;
      model.graph.check(pass.changesSignature ? undefined : signature);
      rec.seconds = (performance.now() - p0) / 1000;
      rec.changes = report.changes;
      rec.skipped = report.skipped;
      if (report.details) rec.details = report.details;
      rec.status = report.changes.length ? 'applied' : 'unchanged';
      const skippedNote = report.skipped.length ? `, ${report.skipped.length} skipped` : '';
      progress(`${pass.name}: ${report.changes.length} change(s)${skippedNote} (${rec.seconds.toFixed(2)} s)`);
    }
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
  return records;
}
