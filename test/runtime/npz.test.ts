/**
 * npz/npy reading and writing against numpy itself: files numpy writes (stored, deflated, zip64, npy 1-3,
 * several dtypes) read back value-exact; files we write load in numpy with the right keys, shapes, dtypes and
 * values; every kind of corruption is a RebakeError with its own code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { thrownRebakeError } from '../helpers/errors.js';
import { floatToHalf } from '../../core/tensor.js';
import { NpzReader, readNpy, readNpz, writeNpz, type NpyArray } from '../../core/npz.js';
import { python, tempDir } from './helpers.js';

let dir: string;

// Each numpy-written file holds the same arrays; the expected values are computed here, independently.
const MAKE = `
import sys, zipfile, numpy as np
d = sys.argv[1]
u8 = (np.arange(3*5*7) * 37 % 256).astype(np.uint8).reshape(3, 5, 7)
f32 = (np.arange(24, dtype=np.float32) / 8 - 1.25).reshape(2, 3, 4)
f16 = (np.arange(6, dtype=np.float32) * 0.3).astype(np.float16)
i64 = np.array([-3, 0, 2**40], dtype=np.int64)
np.savez(d + '/stored.npz', input_0=u8, f32=f32, f16=f16, i64=i64)
np.savez_compressed(d + '/deflated.npz', input_0=u8, f32=f32, f16=f16, i64=i64)
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(d + '/v%d.npy' % v[0], 'wb') as fh:
        np.lib.format.write_array(fh, f32, version=v)
np.save(d + '/fortran.npy', np.asfortranarray(f32))
np.save(d + '/bigendian.npy', f32.astype('>f4'))
np.save(d + '/strings.npy', np.array(['a', 'bc']))
np.savez(d + '/fortran.npz', input_0=np.asfortranarray(f32))
np.savez(d + '/object.npz', input_0=np.array([1, 'x'], dtype=object))
# zip64 everywhere: central directory extras and the zip64 end records.
zipfile.ZIP64_LIMIT = 1
zipfile.ZIP_FILECOUNT_LIMIT = 0
np.savez(d + '/zip64.npz', input_0=u8, f32=f32, f16=f16, i64=i64)
`;

function expectedArrays(): Record<string, NpyArray> {
  const u8 = new Uint8Array(105).map((_, i) => (i * 37) % 256);
  const f32 = new Float32Array(24).map((_, i) => i / 8 - 1.25);
  const f16 = new Uint16Array(6).map((_, i) => floatToHalf(Math.fround(i * 0.3)));
  return {
    input_0: { dtype: 'uint8', shape: [3, 5, 7], data: u8 },
    f32: { dtype: 'float32', shape: [2, 3, 4], data: f32 },
    f16: { dtype: 'float16', shape: [6], data: f16 },
    i64: { dtype: 'int64', shape: [3], data: new BigInt64Array([-3n, 0n, 2n ** 40n]) },
  };
}

beforeAll(() => {
  dir = tempDir('npz');
  python(MAKE, [dir]);
});

describe('readNpz on files numpy wrote', () => {
  for (const name of ['stored', 'deflated', 'zip64']) {
    it(`${name}: keys, dtypes, shapes and values`, () => {
      if (name === 'zip64') expect(fs.readFileSync(path.join(dir, 'zip64.npz')).includes(Buffer.from([0x50, 0x4b, 0x06, 0x07]))).toBe(true);
      const got = readNpz(path.join(dir, `${name}.npz`));
      const want = expectedArrays();
      expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
      for (const [k, w] of Object.entries(want)) {
        const g = got.get(k)!;
        expect(g.dtype).toBe(w.dtype);
        expect(g.shape).toEqual(w.shape);
        expect(Array.from(g.data as ArrayLike<number>)).toEqual(Array.from(w.data as ArrayLike<number>));
      }
    });
  }

  it('reads npy format versions 1, 2 and 3', () => {
    const want = Array.from(expectedArrays().f32.data as Float32Array);
    for (const v of [1, 2, 3]) {
      const a = readNpy(path.join(dir, `v${v}.npy`));
      expect(a.shape).toEqual([2, 3, 4]);
      expect(Array.from(a.data as Float32Array)).toEqual(want);
    }
  });
});

describe('NpzReader (one reused buffer)', () => {
  const values = (m: Map<string, NpyArray>) => [...m].map(([k, a]) => [k, a.dtype, a.shape, Array.from(a.data as ArrayLike<number | bigint>)]);

  it('reads what readNpz reads, float data aligned in place, one buffer for every stored file', () => {
    const ours = path.join(dir, 'reader-f32.npz');
    const f32 = new Float32Array(3 * 4 * 5).map((_, i) => i / 3 - 7);
    writeNpz(ours, { input_0: { dtype: 'float32', shape: [3, 4, 5], data: f32 } });
    const reader = new NpzReader();
    const buffers = new Set<ArrayBufferLike>();
    for (const name of ['stored.npz', 'deflated.npz', 'zip64.npz', 'reader-f32.npz', 'stored.npz']) {
      const file = path.join(dir, name);
      const got = reader.read(file);
      expect(values(got)).toEqual(values(readNpz(file)));
      const first = got.get('input_0')!.data;
      if (name !== 'deflated.npz') buffers.add(first.buffer);
      if (name === 'reader-f32.npz') {
        // Our writer leaves the float data at an odd file offset: the reader moved it, it did not copy it.
        expect(first.byteOffset % 4).toBe(0);
        expect(Array.from(first as Float32Array)).toEqual(Array.from(f32));
      }
    }
    expect(buffers.size).toBe(1);
  });

  it('fails with the codes readNpz gives', () => {
    const full = fs.readFileSync(path.join(dir, 'stored.npz'));
    const flipped = Buffer.from(full);
    flipped[140] ^= 0xff;
    const cases: [string, Uint8Array | null][] = [['r-missing.npz', null], ['r-empty.npz', new Uint8Array(0)], ['r-cut.npz', full.subarray(0, 200)], ['r-flip.npz', flipped]];
    const reader = new NpzReader();
    for (const [name, bytes] of cases) {
      const file = path.join(dir, name);
      if (bytes) fs.writeFileSync(file, bytes);
      expect(thrownRebakeError(() => reader.read(file)).code).toBe(thrownRebakeError(() => readNpz(file)).code);
    }
    expect(thrownRebakeError(() => reader.read(dir)).code).toBe('NPZ_NOT_FILE');
  });
});

describe('writeNpz output loads in numpy', () => {
  it('keys, shapes, dtypes and values match', () => {
    const file = path.join(dir, 'ours.npz');
    const arrays = expectedArrays();
    writeNpz(file, arrays);
    const out = python(
      `
import sys, numpy as np
z = np.load(sys.argv[1])
for k in sorted(z.files):
    a = z[k]
    print(k, a.dtype, list(a.shape), a.flags['C_CONTIGUOUS'], ' '.join(repr(float(x)) if a.dtype.kind == 'f' else str(int(x)) for x in a.ravel()))
`,
      [file],
    ).trim().split('\n');
    const want = Object.entries(arrays)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, a]) => {
        const vals = a.dtype === 'float16' ? Array.from(a.data as Uint16Array, (h) => readNpyHalf(h)) : Array.from(a.data as ArrayLike<number | bigint>, (x) => (a.dtype.startsWith('float') ? reprFloat(Number(x)) : String(x)));
        return `${k} ${a.dtype} [${a.shape.join(', ')}] True ${vals.join(' ')}`;
      });
    expect(out).toEqual(want);
    // And it reads back through our own reader unchanged, with no temp file left beside it.
    const back = readNpz(file);
    expect(Array.from(back.get('f32')!.data as Float32Array)).toEqual(Array.from(arrays.f32.data as Float32Array));
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('is byte-identical when written twice (fixed timestamps)', () => {
    const a = path.join(dir, 'twice-a.npz');
    const b = path.join(dir, 'twice-b.npz');
    writeNpz(a, expectedArrays());
    writeNpz(b, expectedArrays());
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
  });
});

// Python repr of a float, for the values used here (short decimals).
function reprFloat(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : String(x);
}
function readNpyHalf(h: number): string {
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  const v = e === 0 ? f * 2 ** -24 : (1 + f / 1024) * 2 ** (e - 15);
  return reprFloat((h & 0x8000 ? -1 : 1) * v);
}

describe('corrupt inputs each have their own error', () => {
  it('missing file, folder, empty file, not a zip', () => {
    expect(thrownRebakeError(() => readNpz(path.join(dir, 'nope.npz'))).code).toBe('NPZ_MISSING');
    expect(thrownRebakeError(() => readNpz(dir)).code).toBe('NPZ_NOT_FILE');
    fs.writeFileSync(path.join(dir, 'empty.npz'), '');
    expect(thrownRebakeError(() => readNpz(path.join(dir, 'empty.npz'))).code).toBe('NPZ_NOT_ZIP');
    fs.writeFileSync(path.join(dir, 'text.npz'), 'hello, this is not a zip file at all');
    expect(thrownRebakeError(() => readNpz(path.join(dir, 'text.npz'))).code).toBe('NPZ_NOT_ZIP');
  });

  it('truncated anywhere: cut in the data, in the central directory, in the end record', () => {
    const full = fs.readFileSync(path.join(dir, 'stored.npz'));
    const codes = new Set<string>();
    for (const keep of [40, 200, full.byteLength - 100, full.byteLength - 10]) {
      const f = path.join(dir, `cut-${keep}.npz`);
      fs.writeFileSync(f, full.subarray(0, keep));
      codes.add(thrownRebakeError(() => readNpz(f)).code);
    }
    expect([...codes]).toEqual(['NPZ_TRUNCATED']);
  });

  it('a flipped data byte fails the CRC; a flipped deflate stream is corrupt', () => {
    for (const name of ['stored', 'deflated']) {
      const buf = Buffer.from(fs.readFileSync(path.join(dir, `${name}.npz`)));
      buf[140] ^= 0xff;
      const f = path.join(dir, `flip-${name}.npz`);
      fs.writeFileSync(f, buf);
      expect(thrownRebakeError(() => readNpz(f)).code).toBe('NPZ_CORRUPT');
    }
  });

  it('bad npy header, fortran order, big-endian, strings, objects', () => {
    fs.writeFileSync(path.join(dir, 'garbage.npy'), Buffer.from('\x93NUMPY\x01\x00\x10\x00{garbage}       \n', 'latin1'));
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'garbage.npy'))).code).toBe('NPY_HEADER');
    fs.writeFileSync(path.join(dir, 'nomagic.npy'), 'NUMPY-but-not-really');
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'nomagic.npy'))).code).toBe('NPY_HEADER');
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'fortran.npy'))).code).toBe('NPY_FORTRAN');
    expect(thrownRebakeError(() => readNpz(path.join(dir, 'fortran.npz'))).code).toBe('NPY_FORTRAN');
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'bigendian.npy'))).code).toBe('NPY_DTYPE');
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'strings.npy'))).code).toBe('NPY_DTYPE');
    expect(thrownRebakeError(() => readNpz(path.join(dir, 'object.npz'))).code).toBe('NPY_DTYPE');
    const v1 = fs.readFileSync(path.join(dir, 'v1.npy'));
    fs.writeFileSync(path.join(dir, 'short.npy'), v1.subarray(0, v1.byteLength - 4));
    expect(thrownRebakeError(() => readNpy(path.join(dir, 'short.npy'))).code).toBe('NPY_TRUNCATED');
  });

  it('messages name the file and the member', () => {
    const file = path.join(dir, 'fortran.npz');
    expect(() => readNpz(file)).toThrow(`${file} input_0.npy: array is in Fortran order; save it in C order (np.ascontiguousarray)`);
  });
});
