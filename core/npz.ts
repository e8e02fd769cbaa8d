/**
 * numpy .npy / .npz without numpy. Reading accepts what numpy and other writers produce: zip members stored
 * or deflated, zip64 extra fields (numpy's savez forces them in the local headers), npy format versions 1-3,
 * C order, little-endian or single-byte dtypes. CRCs are checked like Python's zipfile does. Every way a file
 * can be wrong is a RebakeError with a stable code naming the file and member.
 * Writing produces a stored zip with npy 1.0 members and a fixed timestamp (byte-identical reruns), atomically.
 * float16 data is kept as raw bits in a Uint16Array, as in core/tensor.ts.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { InternalError, RebakeError } from './errors.js';
import { readInput, writeFileAtomic } from './fsutil.js';
import { DataType, elementCount, viewRawBytes, type TensorData } from './tensor.js';

export type NpyDtype = 'bool' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'float16' | 'float32' | 'float64';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: TensorData;
}

/** npy descr (without byte-order mark) <-> dtype. */
const DESCR: Record<string, { dtype: NpyDtype; type: DataType }> = {
  b1: { dtype: 'bool', type: DataType.BOOL },
  u1: { dtype: 'uint8', type: DataType.UINT8 },
  i1: { dtype: 'int8', type: DataType.INT8 },
  u2: { dtype: 'uint16', type: DataType.UINT16 },
  i2: { dtype: 'int16', type: DataType.INT16 },
  u4: { dtype: 'uint32', type: DataType.UINT32 },
  i4: { dtype: 'int32', type: DataType.INT32 },
  u8: { dtype: 'uint64', type: DataType.UINT64 },
  i8: { dtype: 'int64', type: DataType.INT64 },
  f2: { dtype: 'float16', type: DataType.FLOAT16 },
  f4: { dtype: 'float32', type: DataType.FLOAT },
  f8: { dtype: 'float64', type: DataType.DOUBLE },
};
const DTYPE_TO_DESCR = Object.fromEntries(Object.entries(DESCR).map(([k, v]) => [v.dtype, k])) as Record<NpyDtype, string>;

/** The npy dtype name for an ORT / IR tensor type name ('float32', 'uint8', ...), if npy can hold it. */
export function asNpyDtype(name: string): NpyDtype | undefined {
  return name in DTYPE_TO_DESCR ? (name as NpyDtype) : undefined;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parse one .npy image held in `bytes`. `member` names the zip entry in messages. */
export function decodeNpy(bytes: Uint8Array, file: string, member?: string): NpyArray {
  const loc = { file, path: member };
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new RebakeError('NPY_HEADER', 'not an npy array (no \\x93NUMPY magic)', loc);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new RebakeError('NPY_TRUNCATED', 'npy header cut short', loc);
    headerLen = dv.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new RebakeError('NPY_HEADER', `npy format version ${major}.${bytes[7]} is not supported (expected 1.x, 2.x or 3.x)`, loc);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.byteLength) throw new RebakeError('NPY_TRUNCATED', `npy header says ${headerLen} bytes but the array has only ${bytes.byteLength - headerStart}`, loc);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrMatch) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) throw new RebakeError('NPY_DTYPE', 'structured (record) dtypes are not supported; save a plain array', loc);
    throw new RebakeError('NPY_HEADER', `bad npy header (no descr): ${header.trim()}`, loc);
  }
  if (!fortranMatch || !shapeMatch) throw new RebakeError('NPY_HEADER', `bad npy header (needs fortran_order and shape): ${header.trim()}`, loc);
  if (fortranMatch[1] === 'True') {
    throw new RebakeError('NPY_FORTRAN', 'array is in Fortran order; save it in C order (np.ascontiguousarray)', loc);
  }
  const shape: number[] = [];
  for (const part of shapeMatch[1].split(',')) {
    const t = part.trim().replace(/L$/, '');
    if (t === '') continue;
    const n = Number(t);
    if (!Number.isInteger(n) || n < 0) throw new RebakeError('NPY_HEADER', `bad npy shape (${shapeMatch[1]})`, loc);
    shape.push(n);
  }
  const descr = descrMatch[2];
  const order = descr[0];
  const kind = /^[<>|=]/.test(descr) ? descr.slice(1) : descr;
  const entry = DESCR[kind === 'b1' || kind === '?' ? 'b1' : kind];
  if (!entry) throw new RebakeError('NPY_DTYPE', `unsupported dtype '${descr}' (expected a numeric dtype such as uint8, float32 or float16)`, loc);
  if (order === '>' && !kind.endsWith('1')) {
    throw new RebakeError('NPY_DTYPE', `big-endian dtype '${descr}' is not supported; save little-endian (arr.astype('<${kind}'))`, loc);
  }
  const count = elementCount(shape);
  const need = count * Number(DTYPE_TO_DESCR[entry.dtype][1]);
  const have = bytes.byteLength - dataStart;
  if (have < need) throw new RebakeError('NPY_TRUNCATED', `array data cut short: shape (${shape.join(', ')}) ${entry.dtype} needs ${need} bytes, found ${have}`, loc);
  if (have > need) throw new RebakeError('NPY_SIZE', `array data has ${have} bytes, shape (${shape.join(', ')}) ${entry.dtype} needs ${need}`, loc);
  return { dtype: entry.dtype, shape, data: viewRawBytes(entry.type, bytes.subarray(dataStart), count) };
}

export function readNpy(file: string): NpyArray {
  return decodeNpy(readInput(file, { code: 'NPY', what: 'a numpy .npy file' }), file);
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;

function u64(dv: DataView, off: number): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('zip64 field too large');
  return Number(v);
}

/** The central directory, with zip64 fields resolved. A record that runs past the end of the file is corrupt. */
function zipEntries(buf: Uint8Array, file: string): ZipEntry[] {
  try {
    return readCentralDirectory(buf, file);
  } catch (e) {
    if (e instanceof RangeError) throw new RebakeError('NPZ_CORRUPT', 'corrupt zip: a directory record runs past the end of the file', { file });
    throw e;
  }
}

function readCentralDirectory(buf: Uint8Array, file: string): ZipEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const looksLikeZip = buf.byteLength >= 4 && dv.getUint32(0, true) === SIG_LOCAL;
  let eocd = -1;
  for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    if (looksLikeZip) throw new RebakeError('NPZ_TRUNCATED', `truncated npz: the zip's central directory is missing (file cut short at ${buf.byteLength} bytes?)`, { file });
    if (buf.byteLength === 0) throw new RebakeError('NPZ_NOT_ZIP', 'empty file (expected an npz: a zip of .npy arrays)', { file });
    throw new RebakeError('NPZ_NOT_ZIP', 'not an npz file (not a zip archive)', { file });
  }
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  const loc = eocd - 20;
  if (loc >= 0 && dv.getUint32(loc, true) === SIG_ZIP64_LOCATOR) {
    const z64 = u64(dv, loc + 8);
    if (z64 + 56 > buf.byteLength || dv.getUint32(z64, true) !== SIG_ZIP64_EOCD) throw new RebakeError('NPZ_CORRUPT', 'corrupt zip64 end record', { file });
    count = u64(dv, z64 + 32);
    cdSize = u64(dv, z64 + 40);
    cdOffset = u64(dv, z64 + 48);
  }
  if (cdOffset + cdSize > eocd) throw new RebakeError('NPZ_TRUNCATED', 'truncated or corrupt npz: the central directory points past the end of the file', { file });
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.byteLength || dv.getUint32(p, true) !== SIG_CENTRAL) throw new RebakeError('NPZ_CORRUPT', `corrupt zip central directory (entry ${k})`, { file });
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const e: ZipEntry = {
      name: new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen)),
      flags: dv.getUint16(p + 8, true),
      method: dv.getUint16(p + 10, true),
      crc: dv.getUint32(p + 16, true),
      compressedSize: dv.getUint32(p + 20, true),
      size: dv.getUint32(p + 24, true),
      localOffset: dv.getUint32(p + 42, true),
    };
    // zip64 extra: only the fields whose 32-bit slot is 0xFFFFFFFF, in the order size, compressed, offset.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true);
      const len = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (e.size === U32_MAX) (e.size = u64(dv, q)), (q += 8);
        if (e.compressedSize === U32_MAX) (e.compressedSize = u64(dv, q)), (q += 8);
        if (e.localOffset === U32_MAX) e.localOffset = u64(dv, q);
      }
      x += 4 + len;
    }
    entries.push(e);
    p = xEnd + commentLen;
  }
  return entries;
}

/** Where the member's (stored or compressed) bytes start in the file. */
function memberStart(buf: Uint8Array, e: ZipEntry, file: string): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (e.localOffset + 30 > buf.byteLength || dv.getUint32(e.localOffset, true) !== SIG_LOCAL) {
    throw new RebakeError('NPZ_CORRUPT', 'corrupt zip: no local header where the central directory points', { file, path: e.name });
  }
  return e.localOffset + 30 + dv.getUint16(e.localOffset + 26, true) + dv.getUint16(e.localOffset + 28, true);
}

function memberBytes(buf: Uint8Array, e: ZipEntry, file: string): Uint8Array {
  const loc = { file, path: e.name };
  if (e.flags & 1) throw new RebakeError('NPZ_ENCRYPTED', 'encrypted zip members are not supported', loc);
  const start = memberStart(buf, e, file);
  const end = start + e.compressedSize;
  if (end > buf.byteLength) throw new RebakeError('NPZ_TRUNCATED', `truncated npz: member needs ${e.compressedSize} bytes, file ends ${end - buf.byteLength} bytes early`, loc);
  const raw = buf.subarray(start, end);
  let data: Uint8Array;
  if (e.method === 0) data = raw;
  else if (e.method === 8) {
    try {
      // The zip's size bounds the output: a corrupt (or hostile) stream cannot inflate past it.
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      const tooLong = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new RebakeError('NPZ_CORRUPT', `corrupt deflate data: ${tooLong ? `it inflates past the ${e.size} bytes the zip says` : 'the stream does not decode'}`, loc);
    }
  } else throw new RebakeError('NPZ_COMPRESSION', `zip compression method ${e.method} is not supported (expected stored or deflate, as numpy writes)`, loc);
  if (data.byteLength !== e.size) throw new RebakeError('NPZ_CORRUPT', `member is ${data.byteLength} bytes after decompression, the zip says ${e.size}`, loc);
  if (zlib.crc32(data) !== e.crc) throw new RebakeError('NPZ_CORRUPT', 'CRC mismatch: the member is corrupt', loc);
  return data;
}

/** All arrays of an npz held in `bytes`, keyed like numpy's NpzFile (member name without `.npy`). */
export function decodeNpz(bytes: Uint8Array, file: string): Map<string, NpyArray> {
  const out = new Map<string, NpyArray>();
  for (const e of zipEntries(bytes, file)) {
    if (e.name.endsWith('/')) continue;
    const key = e.name.endsWith('.npy') ? e.name.slice(0, -4) : e.name;
    out.set(key, decodeNpy(memberBytes(bytes, e, file), file, e.name));
  }
  return out;
}

export function readNpz(file: string): Map<string, NpyArray> {
  return decodeNpz(readInput(file, { code: 'NPZ', what: 'an npz file' }), file);
}

/** Room before a file in NpzReader's buffer, to move it into alignment. */
const ALIGN = 8;

/**
 * readNpz for a runner reading thousands of inputs in a row: every file goes into one buffer reused from
 * file to file (no allocation and no fresh pages per file, which cost more than the read itself), placed
 * so that the first stored member's array data is 8-byte aligned (no realigning copy for float views;
 * numpy's and our own writers leave it at an odd offset). A file is read to where the file before it came
 * out aligned, as the files of a datalist share a layout; only a file of another layout is moved after
 * reading (a second pass over its bytes: 6 us of 135 us for a 600 KB float32 input, measured reading 1,024
 * of them in a row). The arrays returned view that buffer: they are valid until the next read.
 */
export class NpzReader {
  private buf = new Uint8Array(0);
  /** Where the last file went in `buf` (0 .. ALIGN-1). */
  private lead = 0;

  read(file: string): Map<string, NpyArray> {
    let bytes: Uint8Array | undefined;
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'r');
      const st = fs.fstatSync(fd);
      if (st.isFile()) {
        if (this.buf.byteLength < st.size + ALIGN) this.buf = new Uint8Array(Math.ceil((st.size + ALIGN) * 1.25));
        let got = 0;
        for (let n = -1; got < st.size && n !== 0; got += n) n = fs.readSync(fd, this.buf, this.lead + got, st.size - got, got);
        bytes = this.buf.subarray(this.lead, this.lead + got);
      }
    } catch {
      // readNpz below words the error
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    if (!bytes) return readNpz(file);
    const lead = (ALIGN - ((this.buf.byteOffset + firstArrayOffset(bytes, file)) % ALIGN)) % ALIGN;
    if (lead !== this.lead) {
      this.buf.copyWithin(lead, this.lead, this.lead + bytes.byteLength);
      bytes = this.buf.subarray(lead, lead + bytes.byteLength);
      this.lead = lead;
    }
    return decodeNpz(bytes, file);
  }
}

/** Offset of the first stored member's npy data in an npz image (0 when there is none or it is not readable: decodeNpz reports why). */
function firstArrayOffset(bytes: Uint8Array, file: string): number {
  const e = zipEntries(bytes, file).find((x) => !x.name.endsWith('/'));
  if (!e || e.method !== 0) return 0;
  const start = memberStart(bytes, e, file);
  if (start + 12 > bytes.byteLength) return 0;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start);
  return start + (bytes[start + 6] === 1 ? 10 + dv.getUint16(8, true) : 12 + dv.getUint32(8, true));
}

/** npy 1.0 image of `arr` as [header, data] (no copy of the data). */
export function encodeNpy(arr: NpyArray): Uint8Array[] {
  const count = elementCount(arr.shape);
  if (arr.data.length !== count) throw new InternalError(`npy: ${arr.data.length} values for shape [${arr.shape}]`);
  const descr = DTYPE_TO_DESCR[arr.dtype];
  const order = descr.endsWith('1') ? '|' : '<';
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let dict = `{'descr': '${order}${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads so that the data starts on a 64-byte boundary, and ends the header with a newline.
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  if (dict.length > 0xffff) throw new InternalError('npy header too long');
  const header = new Uint8Array(10 + dict.length);
  header.set(MAGIC);
  header[6] = 1;
  header[7] = 0;
  new DataView(header.buffer).setUint16(8, dict.length, true);
  header.set(Buffer.from(dict, 'latin1'), 10);
  return [header, new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength)];
}

/** A stored (uncompressed) zip of `<key>.npy` members, as chunks ready to write. */
export function encodeNpz(arrays: Map<string, NpyArray> | Record<string, NpyArray>): Uint8Array[] {
  const list = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [key, arr] of list) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const parts = encodeNpy(arr);
    const size = parts[0].byteLength + parts[1].byteLength;
    if (size >= U32_MAX || offset >= U32_MAX) throw new InternalError('npz writer: members over 4 GiB are not supported');
    const crc = zlib.crc32(parts[1], zlib.crc32(parts[0]));
    const local = Buffer.alloc(30);
    local.writeUInt32LE(SIG_LOCAL, 0);
    local.writeUInt16LE(20, 4); // version needed 2.0
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time 00:00
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(size, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.byteLength, 26);
    local.writeUInt16LE(0, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(SIG_CENTRAL, 0);
    cd.writeUInt16LE(0x0314, 4); // made by: unix, 2.0
    local.copy(cd, 6, 4, 30); // version needed .. extra length: same layout as the local header
    cd.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    chunks.push(local, name, ...parts);
    offset += 30 + name.byteLength + size;
  }
  const cdSize = central.reduce((s, c) => s + c.byteLength, 0);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(SIG_EOCD, 0);
  eocd.writeUInt16LE(list.length, 8);
  eocd.writeUInt16LE(list.length, 10);
  eocd.writeUInt32LE(cdSize, 12);
  eocd.writeUInt32LE(offset, 16);
  return [...chunks, ...central, eocd];
}

/**
 * Write an npz that numpy.load reads; temp name + rename, so a reader or a killed run never sees a partial
 * file. The runner writes tens of thousands of them: no fsync (see writeFileAtomic), and `--resume` re-runs
 * any output that does not load.
 */
export function writeNpz(file: string, arrays: Map<string, NpyArray> | Record<string, NpyArray>): void {
  writeFileAtomic(file, encodeNpz(arrays));
}

