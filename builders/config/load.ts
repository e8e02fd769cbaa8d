/**
 * Loading the build YAML and the vdsp params JSON: parse keeping source positions, validate with the JSON
 * Schemas in schemas/ (ajv), then the checks a schema cannot express. Every problem becomes one RebakeError
 * pointing at the user's text: `configs/x.yaml:14:9 backend.dtype: must be one of fp32, fp16, int8`.
 *
 * Paths inside a YAML (checkpoint, vdsp_params, workspace.path, dataset.path) resolve against the YAML
 * file's folder, as in the vamc zoo; paths given on the command line resolve against the current folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, visit, type Alias, type Document, type Node as YamlNode } from 'yaml';
import { RebakeError, type SourceLocation } from '../../core/errors.js';
import { readInputText } from '../../core/fsutil.js';
import { packageFile } from '../../core/paths.js';
import { jsonSyntaxError } from './json-syntax.js';
import type { BuildConfig, VdspParams } from './types.js';

type Ajv = import('ajv').default;
const AjvCtor = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (opts: object) => Ajv;

type PathPart = string | number;

/** A parsed document that can point back at the text of any key or value. */
export class LocatedDoc {
  constructor(
    readonly file: string,
    readonly data: unknown,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Location of the value at `p` (or of its key, or of the nearest existing parent). */
  locate(p: PathPart[], which: 'key' | 'value' = 'value'): SourceLocation {
    let node: unknown = this.doc.contents;
    let offset = (node as YamlNode | null)?.range?.[0] ?? 0;
    for (let i = 0; i < p.length; i++) {
      const part = p[i];
      if (isMap(node)) {
        const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(part));
        if (!pair) break;
        const last = i === p.length - 1;
        const keyNode = pair.key as YamlNode;
        offset = (last && which === 'key') || !pair.value ? keyNode.range![0] : ((pair.value as YamlNode).range?.[0] ?? keyNode.range![0]);
        node = pair.value;
      } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
        node = node.items[part];
        offset = (node as YamlNode).range?.[0] ?? offset;
      } else break;
    }
    const pos = this.lines.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col, path: formatPath(p) };
  }

  error(code: string, p: PathPart[], detail: string, which: 'key' | 'value' = 'value'): RebakeError {
    return new RebakeError(code, detail, this.locate(p, which));
  }
}

export function formatPath(p: PathPart[]): string {
  let s = '';
  for (const part of p) s += typeof part === 'number' ? `[${part}]` : s ? `.${part}` : part;
  return s;
}

function readText(file: string, what: string): string {
  return readInputText(file, { code: 'CONFIG', what });
}

export function parseLocated(file: string, text: string, kind: 'yaml' | 'json'): LocatedDoc {
  const lines = new LineCounter();
  if (kind === 'json') {
    const broken = jsonSyntaxError(text);
    if (broken) throw new RebakeError('CONFIG_SYNTAX', `invalid JSON: ${broken.detail}`, { file, ...lines_of(text, broken.offset) });
  }
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const pos = lines.linePos(err.pos[0]);
    throw new RebakeError('CONFIG_SYNTAX', `invalid ${kind === 'json' ? 'JSON' : 'YAML'}: ${err.message.split('\n')[0]}`, { file, line: pos.line, column: pos.col });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Aliases resolve only here: one naming no earlier anchor, or too many of them (an alias bomb).
    if (!(e instanceof ReferenceError)) throw e;
    const alias = firstAlias(doc);
    const pos = alias?.range ? lines.linePos(alias.range[0]) : undefined;
    const what = alias ? `alias *${alias.source} names no anchor (&${alias.source}) defined before it` : 'too many aliases (over 100 expansions)';
    throw new RebakeError('CONFIG_SYNTAX', `invalid YAML: ${what}`, { file, ...(pos ? { line: pos.line, column: pos.col } : {}) });
  }
  return new LocatedDoc(file, data, doc, lines);
}

function firstAlias(doc: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      if (!node.resolve(doc)) {
        found = node;
        return visit.BREAK;
      }
    },
  });
  return found;
}

function lines_of(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

const validators = new Map<string, ValidateFunction>();

function validator(schemaFile: string): ValidateFunction {
  let v = validators.get(schemaFile);
  if (!v) {
    const ajv = new AjvCtor({ allErrors: false, strict: false, useDefaults: true });
    v = ajv.compile(JSON.parse(fs.readFileSync(packageFile('schemas', schemaFile), 'utf8')));
    validators.set(schemaFile, v);
  }
  return v;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function didYouMean(key: string, allowed: string[]): string {
  const best = allowed.map((k) => [k, distance(key, k)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best[0]}"?)` : ` (expected one of: ${allowed.join(', ')})`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Per-path hints that say more than the schema can. */
const HINTS: Record<string, string> = {
  'frontend.type': 'rebake reads ONNX only: export the model with torch.onnx.export (or tf2onnx) and set frontend.type: onnx',
};

function schemaError(ld: LocatedDoc, e: ErrorObject, schema: Record<string, unknown>): RebakeError {
  const p: PathPart[] = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  const value = p.reduce<unknown>((o, k) => (o as Record<PathPart, unknown> | undefined)?.[k], ld.data);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const props = Object.keys((subSchema(schema, e.schemaPath)?.properties as object | undefined) ?? {});
      return ld.error('CONFIG_UNKNOWN_KEY', [...p, key], `unknown key${didYouMean(key, props)}`, 'key');
    }
    case 'required':
      return ld.error('CONFIG_MISSING_KEY', p, `missing required key "${String(params.missingProperty)}"`, p.length ? 'key' : 'value');
    case 'enum': {
      const hint = HINTS[formatPath(p)];
      return ld.error('CONFIG_ENUM', p, `must be one of ${(params.allowedValues as unknown[]).join(', ')}, got ${describe(value)}${hint ? `; ${hint}` : ''}`);
    }
    case 'type':
      return ld.error('CONFIG_TYPE', p, `must be ${params.type === 'object' ? 'a mapping' : params.type === 'array' ? 'a list' : `a${/^[aeiou]/.test(String(params.type)) ? 'n' : ''} ${String(params.type)}`}, got ${describe(value)}`);
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
      return ld.error('CONFIG_RANGE', p, `must be ${String(params.comparison)} ${String(params.limit)}, got ${describe(value)}`);
    case 'minItems':
    case 'maxItems': {
      const s = subSchema(schema, e.schemaPath) ?? {};
      const exact = s.minItems !== undefined && s.minItems === s.maxItems;
      const want = exact ? `exactly ${String(s.minItems)}` : e.keyword === 'minItems' ? `at least ${String(params.limit)}` : `at most ${String(params.limit)}`;
      return ld.error('CONFIG_LENGTH', p, `must have ${want} values, got ${describe(value)}`);
    }
    case 'minLength':
      return ld.error('CONFIG_EMPTY', p, 'must not be empty');
    case 'minProperties':
      return ld.error('CONFIG_EMPTY', p, 'must have at least one entry');
    case 'pattern':
      return ld.error('CONFIG_PATTERN', p, `must use only letters, digits, ".", "_" and "-", got ${describe(value)}`);
    default:
      return ld.error('CONFIG_INVALID', p, e.message ?? 'invalid value');
  }
}

function subSchema(schema: Record<string, unknown>, schemaPath: string): Record<string, unknown> | undefined {
  let cur: unknown = schema;
  for (const part of schemaPath.replace(/^#\//, '').split('/').slice(0, -1)) {
    if (part === '' ) continue;
    cur = (cur as Record<string, unknown> | undefined)?.[decodeURIComponent(part)];
    // Follow a $ref at the end of the walk (definitions are local).
  }
  const obj = cur as Record<string, unknown> | undefined;
  if (obj && typeof obj.$ref === 'string') return subSchema(schema, `${obj.$ref}/x`);
  return obj;
}

function validateAgainst(ld: LocatedDoc, schemaFile: string, what: string): void {
  if (ld.data === null || typeof ld.data !== 'object' || Array.isArray(ld.data)) {
    throw new RebakeError('CONFIG_TYPE', `expected ${what} (a mapping at the top level), got ${describe(ld.data)}`, { file: ld.file });
  }
  const validate = validator(schemaFile);
  if (!validate(ld.data)) {
    const schema = JSON.parse(fs.readFileSync(packageFile('schemas', schemaFile), 'utf8')) as Record<string, unknown>;
    throw schemaError(ld, validate.errors![0], schema);
  }
}

export interface LoadOptions {
  /** `--vdsp_params` from the command line (relative to the current folder); overrides the YAML key. */
  vdspParams?: string;
  /** One-line notices (aliases, ignored hardware keys) go here. */
  notice?: (line: string) => void;
}

export function loadBuildConfig(file: string, opts: LoadOptions = {}): BuildConfig {
  const ld = parseLocated(file, readText(file, 'a build config YAML'), 'yaml');
  validateAgainst(ld, 'build-config.schema.json', 'a build config');
  const raw = ld.data as Record<string, any>;
  const notice = opts.notice ?? (() => {});
  const base = path.dirname(path.resolve(file));
  const resolveFromYaml = (p: string) => path.resolve(base, p);

  if (raw.backend.type === 'tvm_vacc') {
    const loc = ld.locate(['backend', 'type']);
    notice(`${loc.file}:${loc.line}:${loc.column} backend.type: tvm_vacc is read as onnxruntime (rebake targets ONNX Runtime)`);
  }
  if (raw.backend.compile !== undefined) {
    const loc = ld.locate(['backend', 'compile'], 'key');
    notice(`${loc.file}:${loc.line}:${loc.column} backend.compile: hardware-only options, ignored on ONNX Runtime`);
  }
  checkProcessOps(ld, raw);
  // The name is a folder under workspace.path: "." and ".." would put the build in the workspace or above it.
  if (raw.name === '.' || raw.name === '..') throw ld.error('CONFIG_PATTERN', ['name'], `must name a folder inside workspace.path, got "${raw.name}"`);

  const vdsp = opts.vdspParams ? path.resolve(opts.vdspParams) : raw.vdsp_params ? resolveFromYaml(raw.vdsp_params) : undefined;
  return {
    file,
    name: raw.name,
    frontend: { type: 'onnx', checkpoint: resolveFromYaml(raw.frontend.checkpoint), shape: raw.frontend.shape, dtype: 'fp32' },
    backend: { type: 'onnxruntime', dtype: raw.backend.dtype ?? 'fp32', quantize: quantizeKeys(raw.backend.quantize, resolveFromYaml) },
    graph: { extra_ops: raw.graph?.extra_ops },
    dataset: raw.dataset ? { ...raw.dataset, path: raw.dataset.path ? resolveFromYaml(raw.dataset.path) : undefined } : undefined,
    workspace: { path: resolveFromYaml(raw.workspace?.path ?? './deploy_weights/') },
    vdsp_params: vdsp,
    passes: raw.passes ?? {},
    locate: (p: string, which?: 'key' | 'value') => ld.locate(p.split('.').map((k) => (/^\d+$/.test(k) ? Number(k) : k)), which),
  };
}

/** backend.quantize with the eval set's paths resolved against the YAML's folder. */
function quantizeKeys(q: Record<string, any> | undefined, resolve: (p: string) => string): BuildConfig['backend']['quantize'] {
  if (!q?.eval) return q;
  return { ...q, eval: { datalist: resolve(q.eval.datalist), gt: resolve(q.eval.gt) } };
}

/** The zoo's calibration pipeline: each op's own keys, and a crop that fits the resize before it. */
function checkProcessOps(ld: LocatedDoc, raw: Record<string, any>): void {
  const ops: Record<string, unknown>[] = raw.dataset?.process_ops ?? [];
  const keysFor: Record<string, string[]> = { Resize: ['size'], CenterCrop: ['crop_size'], Normalize: ['mean', 'std'], CvtColor: ['code'], DecodeImage: [], ToTensor: [] };
  let resized: number[] | undefined;
  ops.forEach((op, i) => {
    const allowed = ['type', ...keysFor[op.type as string]];
    for (const k of Object.keys(op)) {
      if (!allowed.includes(k)) throw ld.error('CONFIG_UNKNOWN_KEY', ['dataset', 'process_ops', i, k], `not a key of ${String(op.type)}${didYouMean(k, allowed.slice(1).length ? allowed.slice(1) : ['type'])}`, 'key');
    }
    for (const k of allowed.slice(1)) {
      if (op[k] === undefined) throw ld.error('CONFIG_MISSING_KEY', ['dataset', 'process_ops', i], `${String(op.type)} needs "${k}"`);
    }
    if (op.type === 'Resize') resized = op.size as number[];
    if (op.type === 'CenterCrop' && resized) {
      const crop = op.crop_size as number[];
      if (crop[0] > resized[0] || crop[1] > resized[1]) {
        throw ld.error('CONFIG_CROP', ['dataset', 'process_ops', i, 'crop_size'], `crop ${crop.join('x')} is larger than the resized image ${resized.join('x')}`);
      }
    }
  });
}

/** The largest image area the vdsp params may describe (64 Mpixel: 768 MB as float32 RGB). */
const MAX_IMAGE_PIXELS = 8192 * 8192;

export function loadVdspParams(file: string): VdspParams {
  const ld = parseLocated(file, readText(file, 'a vdsp params JSON'), 'json');
  validateAgainst(ld, 'vdsp-params.schema.json', 'vdsp params');
  const p = ld.data as VdspParams;
  const c = p.OpConfig;
  const at = (key: string) => ['OpConfig', key];
  // Each image the preprocessing holds (input, resized, output) must fit a buffer: host preprocessing and the
  // runner's batches are sized from these numbers.
  for (const [w, h] of [['IimageWidth', 'IimageHeight'], ['ResizeWidth', 'ResizeHeight'], ['OimageWidth', 'OimageHeight']] as const) {
    const [x, y] = [c[w], c[h]];
    if (x !== undefined && y !== undefined && x * y > MAX_IMAGE_PIXELS) {
      throw ld.error('VDSP_SIZE', at(w), `${w} x ${h} is ${x} x ${y} = ${x * y} pixels, over the limit of ${MAX_IMAGE_PIXELS} (8192 x 8192)`);
    }
  }
  if (p.OpType === 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR') {
    for (const key of ['ResizeWidth', 'ResizeHeight', 'CropX', 'CropY'] as const) {
      if (c[key] === undefined) throw ld.error('CONFIG_MISSING_KEY', ['OpConfig'], `missing required key "${key}" (needed by ${p.OpType})`, 'key');
    }
    if (c.CropX! + c.OimageWidth > c.ResizeWidth!) {
      throw ld.error('VDSP_CROP', at('CropX'), `crop ${c.CropX}+${c.OimageWidth} goes past the resized width ${c.ResizeWidth}`);
    }
    if (c.CropY! + c.OimageHeight > c.ResizeHeight!) {
      throw ld.error('VDSP_CROP', at('CropY'), `crop ${c.CropY}+${c.OimageHeight} goes past the resized height ${c.ResizeHeight}`);
    }
  } else if (c.ResizeWidth !== undefined && c.ResizeHeight !== undefined && (c.ResizeWidth !== c.OimageWidth || c.ResizeHeight !== c.OimageHeight)) {
    throw ld.error('VDSP_RESIZE', at('ResizeWidth'), `${p.OpType} has no crop, so ResizeWidth x ResizeHeight must equal OimageWidth x OimageHeight (${c.OimageWidth}x${c.OimageHeight})`);
  }
  return p;
}

/**
 * dataset.process_ops (the calibration pipeline) against the vdsp params (the deployed preprocessing): where
 * both say a resize, crop or normalization and they differ, calibration would see other images than the
 * deployed model. One notice line each (an fp32 build does not use process_ops; going on is right).
 */
export function processOpsContradictions(config: BuildConfig, vdsp: VdspParams, vdspFile: string): string[] {
  const c = vdsp.OpConfig;
  const out: string[] = [];
  const say = (i: number, key: string, what: string) => {
    const loc = config.locate(`dataset.process_ops.${i}.${key}`);
    out.push(`${loc.file}:${loc.line}:${loc.column} dataset.process_ops[${i}].${key}: ${what} (${vdspFile}); calibration images would be preprocessed unlike the deployed model's`);
  };
  const near = (a: number[], b: number[]) => a.length === b.length && a.every((x, k) => Math.abs(x - b[k]) <= 1e-3);
  (config.dataset?.process_ops ?? []).forEach((op, i) => {
    if (op.type === 'Resize' && c.ResizeWidth !== undefined && c.ResizeHeight !== undefined) {
      const [h, w] = op.size as number[];
      if (h !== c.ResizeHeight || w !== c.ResizeWidth) say(i, 'size', `Resize to [${h}, ${w}], but the vdsp params resize to [${c.ResizeHeight}, ${c.ResizeWidth}] (height, width)`);
    } else if (op.type === 'CenterCrop' && vdsp.OpType === 'FUSION_OP_RGB_RESIZE_CVTCOLOR_CROP_NORM_TENSOR') {
      const [h, w] = op.crop_size as number[];
      if (h !== c.OimageHeight || w !== c.OimageWidth) say(i, 'crop_size', `CenterCrop to [${h}, ${w}], but the vdsp params crop to [${c.OimageHeight}, ${c.OimageWidth}]`);
    } else if (op.type === 'Normalize' && c.NormaType === 'DIV255_MINUSMEAN_DIVSTD') {
      if (!near(op.mean as number[], c.Mean)) say(i, 'mean', `mean [${String(op.mean)}], but the vdsp params use Mean [${c.Mean.join(', ')}]`);
      else if (!near(op.std as number[], c.Std)) say(i, 'std', `std [${String(op.std)}], but the vdsp params use Std [${c.Std.join(', ')}]`);
    }
  });
  return out;
}
