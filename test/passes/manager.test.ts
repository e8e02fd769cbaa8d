/**
 * The pass manager: order, switches, wanted, sync and async passes, the graph check after each (I/O signature
 * included unless the pass declares it changes it), records and progress lines, warnings and details kept,
 * the scratch folder removed whatever the outcome.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../core/errors.js';
import { DataType } from '../../core/tensor.js';
import type { Model } from '../../builders/ir/model.js';
import { runPasses } from '../../builders/passes/manager.js';
import type { Pass, PassContext, PassReport } from '../../builders/passes/pass.js';
import { tinyClassifier } from '../helpers/models.js';
import { passInputs } from '../helpers/passes.js';

const none: PassReport = { changes: [], skipped: [] };

/** A pass that logs its name into `trace` and does what `body` says. */
function pass(name: string, trace: string[], body: (m: Model, ctx: PassContext) => PassReport | Promise<PassReport> = () => none, extra: Partial<Pass> = {}): Pass {
  return { name, wanted: () => true, run: (m, ctx) => (trace.push(name), body(m, ctx)), ...extra };
}

const removeRelu = (m: Model): PassReport => {
  const relu = m.graph.node('relu1')!;
  m.graph.replaceAllUses('r1', 'c1');
  m.graph.removeNode(relu);
  return { changes: ['removed relu1'], skipped: [] };
};

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

describe('pass manager', () => {
  it('runs the passes in order; records status, changes, skipped, details; one progress line each', async () => {
    const trace: string[] = [];
    const lines: string[] = [];
    const passes = [
      pass('a-sync', trace, removeRelu),
      pass('b-async', trace, async () => {
        await new Promise((r) => setTimeout(r, 5));
        return { changes: [], skipped: ['left x alone: reason'], details: { tensors: 3 } };
      }),
      pass('c-off', trace),
      pass('d-not-wanted', trace, undefined, { wanted: (i) => i.vdsp !== undefined }),
    ];
    const m = tinyClassifier();
    const records = await runPasses(m, passes, passInputs(), { switches: { 'c-off': false, 'a-sync': true }, progress: (l) => lines.push(l) });
    expect(trace).toEqual(['a-sync', 'b-async']);
    expect(m.graph.node('relu1')).toBeUndefined();
    expect(records.map((r) => [r.name, r.status, r.changes, r.skipped])).toEqual([
      ['a-sync', 'applied', ['removed relu1'], []],
      ['b-async', 'unchanged', [], ['left x alone: reason']],
      ['c-off', 'disabled', [], []],
      ['d-not-wanted', 'not-wanted', [], []],
    ]);
    expect(records[1].details).toEqual({ tensors: 3 });
    expect(records[0].details).toBeUndefined();
    expect(records[1].seconds).toBeGreaterThanOrEqual(0.004);
    expect(lines.map((l) => l.replace(/\(\d+\.\d\d s\)$/, '(t)'))).toEqual(['a-sync: 1 change(s) (t)', 'b-async: 0 change(s), 1 skipped (t)', 'c-off: disabled by config']);
  });

  it('sync passes finish synchronously (the promise is already settled when it is returned)', () => {
    const m = tinyClassifier();
    void runPasses(m, [pass('a', [], removeRelu)], passInputs());
    expect(m.graph.node('relu1')).toBeUndefined();
  });

  it('checks the graph after each pass: a pass that breaks it stops the run with an InternalError', async () => {
    const trace: string[] = [];
    const breaks = pass('breaks', trace, (m) => {
      m.graph.removeNode('relu1');
      return none;
    });
    const e = await rejection(runPasses(tinyClassifier(), [breaks, pass('after', trace)], passInputs()));
    expect(e).toBeInstanceOf(InternalError);
    expect((e as Error).message).toMatch(/node conv2 \(Conv\) reads r1, which nothing defines/);
    expect(trace).toEqual(['breaks']);
  });

  it('the I/O signature must stay unless the pass declares changesSignature (negative control)', async () => {
    const retype = (m: Model): PassReport => {
      m.graph.inputs[0] = { ...m.graph.inputs[0], elemType: DataType.FLOAT16 };
      return { changes: ['x is float16'], skipped: [] };
    };
    const e = await rejection(runPasses(tinyClassifier(), [pass('retype', [], retype)], passInputs()));
    expect((e as Error).message).toMatch(/^graph I\/O signature changed/);
    const [rec] = await runPasses(tinyClassifier(), [pass('retype', [], retype, { changesSignature: true })], passInputs());
    expect(rec.status).toBe('applied');
  });

  it('warnings go to the user and into the record; progress lines from a pass go to the user', async () => {
    const lines: string[] = [];
    const warned: string[] = [];
    const talks = pass('talks', [], (_m, ctx) => {
      ctx.progress('talks: half way');
      ctx.warn('only 3 of 5 images');
      return none;
    });
    const [rec] = await runPasses(tinyClassifier(), [talks], passInputs(), { progress: (l) => lines.push(l), warn: (l) => warned.push(l) });
    expect(rec.warnings).toEqual(['only 3 of 5 images']);
    expect(warned).toEqual(['only 3 of 5 images']);
    expect(lines[0]).toBe('talks: half way');
    // Without a warn sink, warnings are progress lines.
    const lines2: string[] = [];
    await runPasses(tinyClassifier(), [talks], passInputs(), { progress: (l) => lines2.push(l) });
    expect(lines2[1]).toBe('warning: only 3 of 5 images');
  });

  it('the scratch folder is one per run, made on first use, and removed after success and after failure', async () => {
    const dirs: string[] = [];
    const uses = (fail: boolean) => pass('uses', [], async (_m, ctx) => {
      const d = ctx.scratchDir();
      expect(ctx.scratchDir()).toBe(d);
      fs.writeFileSync(`${d}/clone.onnx`, 'x');
      dirs.push(d);
      if (fail) throw new Error('stage failed');
      return none;
    });
    await runPasses(tinyClassifier(), [uses(false)], passInputs());
    expect(await rejection(runPasses(tinyClassifier(), [uses(true)], passInputs()))).toMatchObject({ message: 'stage failed' });
    expect(dirs).toHaveLength(2);
    expect(dirs[0]).not.toBe(dirs[1]);
    for (const d of dirs) expect(fs.existsSync(d)).toBe(false);
  });
});
