/**
 * Every temporary folder the tests make (theirs, the CLI's they spawn, onnxruntime's per-process log files)
 * goes under one folder per test run, removed when the run ends: the machines keep /tmp between runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rebake-test-run-'));
  // Set before the test workers start: they, and every process they spawn, inherit it (os.tmpdir() reads it).
  process.env.TMPDIR = root;
  return () => fs.rmSync(root, { recursive: true, force: true });
}
