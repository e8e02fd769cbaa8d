/**
 * The zoo's list files: a datalist (one .npz path per line, as image2npz writes it) and a ground truth list
 * (`<npz path> <class id>` per line). Paths are kept as written; the ground truth is keyed by the path
 * resolved against the current folder, as `rebake run` and `rebake eval` resolve datalist entries.
 */
import path from 'node:path';
import { RebakeError } from './errors.js';
import { readInputText } from './fsutil.js';

export function readDatalist(file: string): string[] {
  const text = readInputText(file, { code: 'DATALIST', what: 'a datalist: one .npz path per line' });
  const entries = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (!entries.length) throw new RebakeError('DATALIST_EMPTY', 'the datalist is empty (expected one .npz path per line)', { file });
  return entries;
}

/** Lines of a text file as Python's `text.split('\n')` with a trailing empty line dropped, each stripped. */
export function textLines(file: string, what: string): string[] {
  const text = readInputText(file, { code: 'EVAL', what });
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.trim());
}

/** Ground truth lines `<npz path> <class id>` -> class id by resolved path. */
export function readGroundTruth(file: string): Map<string, number> {
  const map = new Map<string, number>();
  textLines(file, 'a ground truth list: "<npz path> <class id>" per line').forEach((line, n) => {
    if (!line) return;
    const m = /^(.*\S)\s+(\d+)$/.exec(line);
    if (!m) throw new RebakeError('EVAL_GT', `expected "<npz path> <class id>", got "${line}"`, { file, line: n + 1 });
    map.set(path.resolve(m[1]), Number(m[2]));
  });
  return map;
}
