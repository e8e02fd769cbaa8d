/**
 * Top-1 / top-k accuracy of run outputs, and the zoo's decoded result format (docs/eval.md).
 * eval/vamp_eval.py is the numpy twin of this file: same pairing, same ground truth rules, same tie order
 * (higher score first, then lower class id), same number formatting (Python's correctly rounded '%.Nf',
 * reproduced here exactly), so the two print identical lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RebakeError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fsutil.js';
import { packageFile } from '../core/paths.js';
import { halfToFloat } from '../core/tensor.js';
import { outputName } from './datalist.js';
import { readDatalist, readGroundTruth, textLines } from '../core/datalist.js';
import { readNpz } from '../core/npz.js';

/** Python's `'%.{digits}f' % x`: the exact binary value, rounded half to even. */
export function pyFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0);
  const neg = hi >>> 31 === 1;
  const expBits = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(dv.getUint32(4));
  let exp: number;
  if (expBits === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = expBits - 1075;
  }
  // |x| = mant * 2^exp; q = round_half_even(|x| * 10^digits)
  let q: bigint;
  const scale = 10n ** BigInt(digits);
  if (exp >= 0) q = (mant << BigInt(exp)) * scale;
  else {
    const num = mant * scale;
    const den = 1n << BigInt(-exp);
    q = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  }
  let s = q.toString().padStart(digits + 1, '0');
  if (digits > 0) s = `${s.slice(0, -digits)}.${s.slice(-digits)}`;
  return (neg ? '-' : '') + s;
}

/** Class ids by descending score, ties by ascending id (numpy: argsort(-s, kind='stable')). */
export function topK(scores: Float32Array, k: number): number[] {
  const idx = Array.from(scores.keys());
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, Math.min(k, scores.length));
}

/** output_0 of a result npz, flattened to float32 (float16 converted exactly). */
export function scoresOf(file: string): Float32Array {
  const a = readNpz(file).get('output_0');
  if (!a) throw new RebakeError('EVAL_OUTPUT', 'no array "output_0" (expected a rebake run / vamp output)', { file });
  if (a.dtype === 'float32') return a.data as Float32Array;
  if (a.dtype === 'float16') return Float32Array.from(a.data as Uint16Array, halfToFloat);
  if (a.dtype === 'float64') return Float32Array.from(a.data as Float64Array);
  throw new RebakeError('EVAL_OUTPUT', `output_0 is ${a.dtype}; expected float scores`, { file });
}

export interface EvalOptions {
  resultPath: string;
  datalist: string;
  label: string;
  gt?: string;
  synsets?: string;
  topk: number;
  decode?: string;
}

export interface EvalResult {
  entries: number;
  evaluated: number;
  pairing: 'by name' | 'by sorted order';
  k: number;
  top1: number;
  topk: number;
  /** One line each: results that cover only part of the datalist, a label list of another length. */
  warnings: string[];
  /** false: no entry had ground truth, only the --decode file was written. */
  groundTruth: boolean;
  decode?: string;
}

/**
 * (datalist index, output file) pairs: by rebake's output names when every output file carries one,
 * else the zoo's way, sorted output names zipped with the datalist (then the counts must match).
 */
export function pairOutputs(resultPath: string, entries: string[]): { pairs: [number, string][]; pairing: EvalResult['pairing'] } {
  let files: string[];
  try {
    files = fs.readdirSync(resultPath).filter((f) => f.endsWith('.npz') && !f.startsWith('.')).sort();
  } catch {
    throw new RebakeError('EVAL_MISSING', 'no such folder (expected the --path_output of rebake run)', { file: resultPath });
  }
  const byName = new Map(entries.map((e, i) => [outputName(i, entries.length, e), i]));
  if (files.length && files.every((f) => byName.has(f))) {
    return { pairs: files.map((f) => [byName.get(f)!, path.join(resultPath, f)] as [number, string]).sort((a, b) => a[0] - b[0]), pairing: 'by name' };
  }
  if (files.length !== entries.length) {
    throw new RebakeError('EVAL_PAIRING', `${files.length} output files for ${entries.length} datalist entries, and their names are not rebake's <index>_<name>.npz: cannot pair them`, { file: resultPath });
  }
  return { pairs: files.map((f, i) => [i, path.join(resultPath, f)] as [number, string]), pairing: 'by sorted order' };
}

const WNID = /^n\d{8}$/;
const firstWord = (l: string) => l.split(/\s+/)[0];

/**
 * The synset list for folder names: --synsets; else the label file itself when its lines start with the wnid
 * ("n01440764 tench"); else the shipped eval/imagenet_synsets.txt when its class names are the label file's,
 * line for line (so `--label eval/imagenet.txt` scores a valprep.sh-style val/<wnid>/ folder as it is).
 */
function synsetList(o: EvalOptions, labels: string[]): string[] | undefined {
  if (o.synsets) return textLines(o.synsets, 'a synset list: one ImageNet wnid per line, in class order');
  if (labels.every((l) => WNID.test(firstWord(l)))) return labels;
  const shipped = textLines(packageFile('eval', 'imagenet_synsets.txt'), 'the shipped ImageNet synset list');
  const sameNames = shipped.length === labels.length && shipped.every((l, i) => l.slice(firstWord(l).length).trim() === labels[i]);
  return sameNames ? shipped : undefined;
}

/**
 * Ground truth class id per datalist entry: from --gt lines, else from the parent folder name. `null` when no
 * entry has one and only decoding was asked for (--decode without --gt): predictions only, no accuracy.
 */
export function groundTruth(entries: string[], o: EvalOptions, labels: string[]): number[] | null {
  if (o.gt) {
    const map = readGroundTruth(o.gt);
    return entries.map((e) => {
      const id = map.get(path.resolve(e));
      if (id === undefined) throw new RebakeError('EVAL_GT', `no ground truth for ${e}`, { file: o.gt! });
      return id;
    });
  }
  const synsetLines = synsetList(o, labels);
  const synsetIds = new Map<string, number>();
  (synsetLines ?? []).forEach((l, i) => synsetIds.has(firstWord(l)) || synsetIds.set(firstWord(l), i));
  const folderOf = (e: string) => path.basename(path.dirname(e));
  const classOf = (folder: string) => (/^\d+$/.test(folder) ? Number(folder) : synsetIds.get(folder));
  const ids = entries.map((e) => classOf(folderOf(e)));
  if (o.decode && ids.every((id) => id === undefined)) return null;
  const missing = ids.indexOf(undefined);
  if (missing >= 0) {
    const e = entries[missing];
    const folder = folderOf(e);
    const why = WNID.test(folder) && !synsetLines ? 'a synset, but no synset list was given (--synsets)' : 'neither a class id nor a synset of the synset list';
    throw new RebakeError('EVAL_GT', `cannot tell the class of ${e}: its folder "${folder}" is ${why}; or give --gt (or --decode alone for predictions without accuracy)`, { file: o.datalist });
  }
  return ids as number[];
}

export function evaluate(o: EvalOptions): EvalResult {
  const entries = readDatalist(o.datalist);
  const labels = textLines(o.label, 'a label list: one class name per line, line index = class id');
  const gt = groundTruth(entries, o, labels);
  const { pairs, pairing } = pairOutputs(o.resultPath, entries);
  let top1 = 0;
  let topk = 0;
  const decoded: string[] = [];
  let k = o.topk;
  const warnings: string[] = [];
  if (pairs.length < entries.length) warnings.push(`only ${pairs.length} of the ${entries.length} datalist entries have outputs in ${o.resultPath}: the accuracy covers those ${pairs.length}`);
  for (const [i, file] of pairs) {
    const scores = scoresOf(file);
    // A ground truth the model cannot output would count as a silent miss: it is a wrong label set.
    if (gt && gt[i] >= scores.length) throw new RebakeError('EVAL_GT_RANGE', `class id ${gt[i]} of ${entries[i]} is outside the model's ${scores.length} classes (0..${scores.length - 1})`, { file: o.gt ?? o.datalist });
    if (labels.length !== scores.length && !warnings.some((w) => w.startsWith('the label'))) {
      warnings.push(`the label list ${o.label} has ${labels.length} names, the model has ${scores.length} classes: check --label`);
    }
    const ids = topK(scores, o.topk);
    k = Math.min(k, ids.length);
    if (gt && ids[0] === gt[i]) top1++;
    if (gt && ids.includes(gt[i])) topk++;
    ids.forEach((id, r) => decoded.push(`${entries[i]}: Relay top-${r} id: ${id}, prob: ${pyFixed(scores[id], 8)}, class name: ${labels[id] ?? String(id)}\n`));
  }
  if (o.decode) writeFileAtomic(o.decode, decoded.join(''));
  return { entries: entries.length, evaluated: pairs.length, pairing, k, top1, topk, warnings, groundTruth: gt !== null, decode: o.decode };
}

export function formatEval(r: EvalResult): string[] {
  const pct = (c: number) => (r.evaluated ? pyFixed((100 * c) / r.evaluated, 3) : 'nan');
  if (!r.groundTruth) {
    return [
      `decoded ${r.evaluated} of ${r.entries} datalist entries (outputs paired ${r.pairing}): top-${r.k} per image in ${r.decode}`,
      'no ground truth (folders are neither class ids nor synsets, no --gt): no accuracy',
    ];
  }
  return [
    `evaluated ${r.evaluated} of ${r.entries} datalist entries (outputs paired ${r.pairing})`,
    `top-1: ${pct(r.top1)}% (${r.top1}/${r.evaluated})`,
    `top-${r.k}: ${pct(r.topk)}% (${r.topk}/${r.evaluated})`,
  ];
}
