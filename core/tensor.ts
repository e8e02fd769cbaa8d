/**
 * Tensors of the IR: one typed array per initializer, decoded once from whichever TensorProto field held it
 * (raw_data or float_data/int32_data/int64_data/double_data). Float16 is kept as its raw bits (Uint16Array).
 */
import { RebakeError } from './errors.js';

export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface Tensor {
  name: string;
  dataType: DataType;
  dims: number[];
  data: TensorData;
}

type TypedCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData; new (length: number): TensorData; BYTES_PER_ELEMENT: number };

const CTORS: Partial<Record<DataType, TypedCtor>> = {
  [DataType.FLOAT]: Float32Array as unknown as TypedCtor,
  [DataType.DOUBLE]: Float64Array as unknown as TypedCtor,
  [DataType.UINT8]: Uint8Array as unknown as TypedCtor,
  [DataType.BOOL]: Uint8Array as unknown as TypedCtor,
  [DataType.INT8]: Int8Array as unknown as TypedCtor,
  [DataType.UINT16]: Uint16Array as unknown as TypedCtor,
  [DataType.FLOAT16]: Uint16Array as unknown as TypedCtor,
  [DataType.INT16]: Int16Array as unknown as TypedCtor,
  [DataType.INT32]: Int32Array as unknown as TypedCtor,
  [DataType.UINT32]: Uint32Array as unknown as TypedCtor,
  [DataType.INT64]: BigInt64Array as unknown as TypedCtor,
  [DataType.UINT64]: BigUint64Array as unknown as TypedCtor,
};

export const DATA_TYPE_NAMES: Record<number, string> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16',
  [DataType.INT32]: 'int32',
  [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64',
  [DataType.UINT64]: 'uint64',
  [DataType.FLOAT16]: 'float16',
  [DataType.BOOL]: 'bool',
  [DataType.STRING]: 'string',
};

export function dataTypeName(t: number): string {
  return DATA_TYPE_NAMES[t] ?? `type${t}`;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function typedArrayFor(dataType: DataType, length: number): TensorData {
  const C = CTORS[dataType];
  if (!C) throw new RebakeError('ONNX_DTYPE', `unsupported tensor data type ${dataTypeName(dataType)}`);
  return new C(length);
}

/** A view over raw little-endian bytes when aligned (zero copy), a copy otherwise. */
export function viewRawBytes(dataType: DataType, bytes: Uint8Array, count: number): TensorData {
  const C = CTORS[dataType];
  if (!C) throw new RebakeError('ONNX_DTYPE', `unsupported tensor data type ${dataTypeName(dataType)}`);
  const need = count * C.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== need) {
    throw new RebakeError('ONNX_TENSOR_SIZE', `raw data has ${bytes.byteLength} bytes, dims need ${need}`);
  }
  if (bytes.byteOffset % C.BYTES_PER_ELEMENT === 0) return new C(bytes.buffer, bytes.byteOffset, count);
  const copy = new Uint8Array(need);
  copy.set(bytes);
  return new C(copy.buffer, 0, count);
}

const rawBytes = new WeakMap<Tensor, Uint8Array>();

/** Bytes of the protobuf tag (field 9, one byte) and length varint that precede a raw_data payload. */
function rawDataHeaderBytes(length: number): number {
  let n = 1;
  do {
    n++;
    length = Math.floor(length / 128);
  } while (length > 0);
  return n;
}

/**
 * Typed view of a raw_data payload that sits inside the decoded model buffer. A misaligned payload is moved
 * back onto an aligned offset over its own (already decoded) tag and length bytes instead of being copied:
 * a 500 MB model whose passes touch every weight would otherwise hold a second copy of most of them.
 */
function viewInPlace(dataType: DataType, raw: Uint8Array, count: number): TensorData {
  const probe = typedArrayFor(dataType, 0);
  const shift = raw.byteOffset % probe.BYTES_PER_ELEMENT;
  if (shift === 0 || shift > rawDataHeaderBytes(raw.byteLength)) return viewRawBytes(dataType, raw, count);
  const whole = new Uint8Array(raw.buffer, raw.byteOffset - shift, raw.byteLength + shift);
  whole.copyWithin(0, shift);
  return viewRawBytes(dataType, whole.subarray(0, raw.byteLength), count);
}

/**
 * A tensor over raw little-endian bytes that becomes a typed array only when a pass reads `data`. Saving an
 * untouched weight writes the same bytes back without a copy, which keeps a build's peak memory near the
 * file size. `inModelBuffer`: the bytes are a raw_data field of a buffer we own, so they may be realigned
 * in place (see viewInPlace); the caller's buffer is then modified.
 */
export function lazyTensor(name: string, dataType: DataType, dims: number[], raw: Uint8Array, inModelBuffer = false): Tensor {
  const count = elementCount(dims);
  const probe = typedArrayFor(dataType, 0);
  if (raw.byteLength !== count * probe.BYTES_PER_ELEMENT) {
    throw new RebakeError('ONNX_TENSOR_SIZE', `raw data has ${raw.byteLength} bytes, dims need ${count * probe.BYTES_PER_ELEMENT}`);
  }
  let cached: TensorData | undefined;
  const t = { name, dataType, dims } as Tensor;
  Object.defineProperty(t, 'data', {
    enumerable: true,
    get: () => {
      if (!cached) {
        cached = inModelBuffer ? viewInPlace(dataType, raw, count) : viewRawBytes(dataType, raw, count);
        rawBytes.delete(t);
      }
      return cached;
    },
    set: (v: TensorData) => {
      cached = v;
      rawBytes.delete(t);
    },
  });
  rawBytes.set(t, raw);
  return t;
}

export function tensorBytes(t: Tensor): Uint8Array {
  const raw = rawBytes.get(t);
  if (raw) return raw;
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function tensorByteLength(t: Tensor): number {
  return rawBytes.get(t)?.byteLength ?? t.data.byteLength;
}

export function makeTensor(name: string, dataType: DataType, dims: number[], data?: TensorData | ArrayLike<number>): Tensor {
  const n = elementCount(dims);
  let arr: TensorData;
  if (data && ArrayBuffer.isView(data)) arr = data as TensorData;
  else {
    arr = typedArrayFor(dataType, n);
    if (data) {
      if (arr instanceof BigInt64Array || arr instanceof BigUint64Array) {
        for (let i = 0; i < n; i++) arr[i] = BigInt((data as ArrayLike<number>)[i]);
      } else (arr as Float32Array).set(data as ArrayLike<number>);
    }
  }
  if (arr.length !== n) throw new RebakeError('ONNX_TENSOR_SIZE', `tensor ${name}: ${arr.length} values for dims [${dims}]`);
  return { name, dataType, dims: [...dims], data: arr };
}

/** float32 view of a float tensor (fp16 and fp64 converted), for passes that do arithmetic on weights. */
export function toFloat32(t: Tensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dataType === DataType.FLOAT16) {
    const src = t.data as Uint16Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
    return out;
  }
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new RebakeError('ONNX_DTYPE', `tensor ${t.name}: expected a float tensor, got ${dataTypeName(t.dataType)}`);
}

/** Integer values of an int32/int64 tensor as JS numbers (shapes, axes, indices). */
export function toNumbers(t: Tensor): number[] {
  const out: number[] = [];
  const d = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < d.length; i++) out.push(Number(d[i]));
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Round-to-nearest-even float32 -> float16 bits. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return half;
}
