/**
 * Fuzzing support: seeded fast-check settings, byte and text mutators over real fixtures, and the property
 * every loader must keep (return, or throw a one-line RebakeError; never another error).
 *
 * `REBAKE_FUZZ_RUNS` sets the runs per target (npm test: a short slice; `npm run fuzz`: the full run),
 * `REBAKE_FUZZ_SEED` the seed. A failure prints the seed and the counterexample path: rerun with
 * `REBAKE_FUZZ_SEED=<seed>` to reproduce it, then add the input as a named regression test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { RebakeError } from '../../core/errors.js';

export const SEED = Number(process.env.REBAKE_FUZZ_SEED ?? 20261202);

/** Runs per target: `REBAKE_FUZZ_RUNS`, or `slice` in the ordinary test run. */
export function runs(slice: number): number {
  const n = Number(process.env.REBAKE_FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : slice;
}

/** Counts every generated case, so `npm run fuzz` can report the total. */
export const counter = { cases: 0 };

/**
 * Run `predicate` on `numRuns` seeded cases. A failure names the seed and run, and saves the failing input
 * (bytes or text) under the OS temp folder, ready to become a regression test.
 */
export async function fuzz<T>(name: string, arb: fc.Arbitrary<T>, predicate: (v: T) => void | Promise<void>, numRuns: number): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, async (v) => predicate(v)), { seed: SEED, numRuns, endOnFailure: true });
  if (!details.failed) return;
  const value = details.counterexample?.[0];
  const file = path.join(os.tmpdir(), `rebake-fuzz-${name}-${SEED}-${details.counterexamplePath}${value instanceof Uint8Array ? '.bin' : '.txt'}`);
  fs.writeFileSync(file, value instanceof Uint8Array ? value : typeof value === 'string' ? value : JSON.stringify(value));
  const cause = details.errorInstance instanceof Error ? (details.errorInstance.stack ?? details.errorInstance.message) : String(details.errorInstance);
  throw new Error(`fuzz ${name}: failed at run ${details.numRuns} (seed ${SEED}, path ${details.counterexamplePath}); input saved as ${file}\n${cause}`);
}

/** The loader property: `f` returns, or throws a RebakeError with a single-line message of ours. */
export function returnsOrRebakeError<T>(f: () => T): T | RebakeError {
  counter.cases++;
  try {
    return f();
  } catch (e) {
    if (!(e instanceof RebakeError)) throw e;
    expectOneVoice(e);
    return e;
  }
}

export async function resolvesOrRebakeError<T>(f: () => Promise<T>): Promise<T | RebakeError> {
  counter.cases++;
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof RebakeError)) throw e;
    expectOneVoice(e);
    return e;
  }
}

function expectOneVoice(e: RebakeError): void {
  expect(e.code).toMatch(/^[A-Z0-9_]+$/);
  expect(e.message).not.toMatch(/\n/);
  expect(e.message).not.toMatch(/^rebake\b/);
}

const INTERESTING_U8 = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Where to mutate: near the start (headers), near the end (zip directories), or anywhere. */
const position = fc.oneof(
  fc.integer({ min: 0, max: 300 }).map((k) => (len: number) => Math.min(k, Math.max(len - 1, 0))),
  fc.integer({ min: 1, max: 300 }).map((k) => (len: number) => Math.max(len - k, 0)),
  fc.double({ min: 0, max: 1, noNaN: true }).map((u) => (len: number) => Math.min(Math.floor(u * len), Math.max(len - 1, 0))),
);

type ByteOp = (b: Uint8Array) => Uint8Array;

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.tuple(position, fc.integer({ min: 0, max: 7 })).map(([at, bit]): ByteOp => (b) => {
    if (b.length) b[at(b.length)] ^= 1 << bit;
    return b;
  }),
  fc.tuple(position, fc.constantFrom(...INTERESTING_U8)).map(([at, v]): ByteOp => (b) => {
    if (b.length) b[at(b.length)] = v;
    return b;
  }),
  fc.tuple(position, fc.constantFrom(...INTERESTING_U32)).map(([at, v]): ByteOp => (b) => {
    const i = at(b.length);
    if (i + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(i, v, true);
    return b;
  }),
  position.map((at): ByteOp => (b) => b.slice(0, at(b.length))),
  fc.tuple(position, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, ins]): ByteOp => (b) => {
    const i = at(b.length);
    return Uint8Array.from([...b.subarray(0, i), ...ins, ...b.subarray(i)]);
  }),
  fc.tuple(position, fc.integer({ min: 1, max: 64 })).map(([at, n]): ByteOp => (b) => {
    const i = at(b.length);
    return Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + n)]);
  }),
);

/** A copy of one of `seeds` with 1 to 4 byte mutations. */
export function mutatedBytes(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(byteOp, { minLength: 1, maxLength: 4 })).map(([k, ops]) => {
    let b: Uint8Array = seeds[k].slice();
    for (const op of ops) b = op(b);
    return b;
  });
}

/** Tokens that break parsers and checks: structure, numbers at the edges, path spellings. */
export const INTERESTING_TEXT = [
  ':', ': ', '- ', '[', ']', '{', '}', ',', '#', '&a', '*a', '!!str', '!!binary', '|', '>', "'", '"', '\n', '\t', ' ', '\r\n',
  '0', '-1', '1e309', '-0', '0x10', '.inf', 'NaN', '2147483648', '4294967297', '9007199254740993', '1e-320', '3.5',
  'null', '~', 'true', '[]', '{}', '""', '.', '..', '../..', '/', '/dev/null', '/dev/fd/0', '\u0000', '\uFFFD', 'é', '\u202E',
];

const textOp = fc.oneof(
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...INTERESTING_TEXT)).map(([u, t]) => (s: string) => {
    const i = Math.floor(u * s.length);
    return s.slice(0, i) + t + s.slice(i);
  }),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 40 })).map(([u, n]) => (s: string) => {
    const i = Math.floor(u * s.length);
    return s.slice(0, i) + s.slice(i + n);
  }),
  // Replace one scalar (a word or number after a colon, or a list item) with an interesting token.
  fc.tuple(fc.nat(), fc.constantFrom(...INTERESTING_TEXT)).map(([k, t]) => (s: string) => {
    const spots = [...s.matchAll(/(?<=:\s*|-\s+)[^\s,\]}]+/g)];
    if (!spots.length) return s;
    const m = spots[k % spots.length];
    return s.slice(0, m.index) + t + s.slice(m.index! + m[0].length);
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (s: string) => {
    const lines = s.split('\n');
    const i = a % lines.length;
    const j = b % lines.length;
    [lines[i], lines[j]] = [lines[j], lines[i]];
    return lines.join('\n');
  }),
  fc.nat().map((a) => (s: string) => {
    const lines = s.split('\n');
    const i = a % lines.length;
    lines.splice(i, 0, lines[i]);
    return lines.join('\n');
  }),
);

/** A copy of one of `seeds` with 1 to 4 text mutations. */
export function mutatedText(seeds: string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(textOp, { minLength: 1, maxLength: 4 })).map(([k, ops]) => {
    let s = seeds[k];
    for (const op of ops) s = op(s);
    return s;
  });
}

/** Values to put where a well-formed document has something else. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1, 3, 255, 65536, 2 ** 31, 2 ** 53, 1e308, -1e308, 0.5, 1e-300, -0, '', '.', '..', '../outside', '/dev/null', '/dev/fd/1', 'a/b', null, true, [], {}),
  fc.integer({ min: -5, max: 100_000 }),
  fc.string({ maxLength: 12 }),
  fc.array(fc.integer({ min: -2, max: 300 }), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Every key path of a JSON-like value (objects and arrays). */
export function keyPaths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [];
  const out: (string | number)[][] = [];
  for (const [k, child] of Object.entries(v)) {
    const p = [...prefix, Array.isArray(v) ? Number(k) : k];
    out.push(p, ...keyPaths(child, p));
  }
  return out;
}

/** A deep copy of `doc` with up to three values replaced, deleted, or added under a nonsense key. */
export function mutatedDoc(doc: unknown): fc.Arbitrary<unknown> {
  const paths = keyPaths(doc);
  const edit = fc.tuple(fc.integer({ min: 0, max: paths.length - 1 }), fc.constantFrom('set', 'delete', 'add'), oddValue);
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    const copy = structuredClone(doc) as Record<string | number, unknown>;
    for (const [k, how, value] of edits) {
      const p = paths[k];
      let parent: Record<string | number, unknown> | undefined = copy;
      for (const part of p.slice(0, -1)) parent = parent?.[part] as Record<string | number, unknown> | undefined;
      if (parent === null || typeof parent !== 'object') continue;
      const last = p[p.length - 1];
      if (how === 'set') parent[last] = structuredClone(value);
      else if (how === 'delete') Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
      else if (!Array.isArray(parent)) parent[`${String(last)}_x`] = structuredClone(value);
    }
    return copy;
  });
}
