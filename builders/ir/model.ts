/**
 * ModelProto <-> IR. Loading decodes every initializer once (zero-copy views over the file buffer where
 * aligned) and resolves external data next to the model, refusing locations outside the model's folder.
 * Saving keeps IR version, opset imports and model metadata; tensors go to raw_data, and above 2 GiB of
 * weights the large ones go to an external data file beside the model.
 */
import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { InternalError, RebakeError } from '../../core/errors.js';
import { readInput, writeFileAtomic } from '../../core/fsutil.js';
import { Graph, type AttrValue, type Dim, type Node, type ValueInfo } from './graph.js';
import { DataType, dataTypeName, elementCount, lazyTensor, tensorByteLength, tensorBytes, typedArrayFor, type Tensor, type TensorData } from '../../core/tensor.js';

const { onnx } = onnxProto;
type IModelProto = onnxProto.onnx.IModelProto;
type IGraphProto = onnxProto.onnx.IGraphProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export interface OpsetId {
  domain: string;
  version: number;
}

export interface Model {
  graph: Graph;
  irVersion: number;
  opsetImport: OpsetId[];
  producerName: string;
  producerVersion: string;
  /** Everything else of the ModelProto (doc string, metadata, functions...), written back untouched. */
  rest: Omit<IModelProto, 'graph' | 'irVersion' | 'opsetImport' | 'producerName' | 'producerVersion'>;
}

/** Bytes of weights above which saving moves large tensors to an external data file (protobuf's 2 GiB cap). */
export const EXTERNAL_DATA_LIMIT = 2 ** 31 - 2 ** 26;

function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function opsetVersion(model: Model, domain = ''): number {
  const d = model.opsetImport.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === domain);
  return d?.version ?? 0;
}

/** What readInput says when an ONNX model cannot be read. */
export const ONNX_INPUT = { code: 'ONNX', what: 'an ONNX model' };

export function loadModel(file: string): Model {
  return decodeModel(readInput(file, ONNX_INPUT), file);
}

/** Decode a model; its weights stay views into `buf`, which passes (and realignment) may write to. */
export function decodeModel(buf: Uint8Array, file: string): Model {
  if (buf.byteLength === 0) throw new RebakeError('ONNX_EMPTY', 'empty file (expected an ONNX model)', { file });
  let proto: onnxProto.onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(buf);
  } catch (e) {
    // Every ONNX exporter writes ir_version (field 1, varint: tag 0x08) first: a file that starts so and runs
    // out is a cut-short model; anything else is not a model at all. (protobufjs' text is not ours to show.)
    if (buf[0] === 0x08 && e instanceof RangeError) {
      throw new RebakeError('ONNX_TRUNCATED', `truncated ONNX model (the protobuf ends early after ${buf.byteLength} bytes)`, { file });
    }
    throw new RebakeError('ONNX_CORRUPT', 'not an ONNX model (the bytes do not decode as an ONNX protobuf)', { file });
  }
  if (!proto.graph || !proto.opsetImport?.length) {
    throw new RebakeError('ONNX_CORRUPT', 'not an ONNX model (no graph or no opset import)', { file });
  }
  const external = new ExternalReader(path.dirname(path.resolve(file)), file);
  try {
    const graph = checkedGraph(() => graphFromProto(proto.graph!, external, file), file);
    const rest: Model['rest'] = {};
    if (proto.docString) rest.docString = proto.docString;
    if (proto.domain) rest.domain = proto.domain;
    if (num(proto.modelVersion as number)) rest.modelVersion = proto.modelVersion;
    if (proto.metadataProps?.length) rest.metadataProps = proto.metadataProps;
    if (proto.functions?.length) rest.functions = proto.functions;
    return {
      graph,
      irVersion: num(proto.irVersion as number),
      opsetImport: proto.opsetImport.map((o) => ({ domain: o.domain ?? '', version: num(o.version as number) })),
      producerName: proto.producerName ?? '',
      producerVersion: proto.producerVersion ?? '',
      rest,
    };
  } finally {
    external.close();
  }
}

/** The user's graph must be well formed before any pass sees it: a broken one is bad input, not our bug. */
function checkedGraph(load: () => Graph, file: string): Graph {
  try {
    const graph = load();
    graph.check();
    return graph;
  } catch (e) {
    if (e instanceof InternalError) throw new RebakeError('ONNX_GRAPH', `not a valid ONNX graph: ${e.message}`, { file });
    throw e;
  }
}

class ExternalReader {
  private fds = new Map<string, number>();
  constructor(
    private readonly dir: string,
    private readonly modelFile: string,
  ) {}

  read(t: ITensorProto, byteLength: number): Uint8Array {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    if (!location) throw new RebakeError('ONNX_EXTERNAL', `tensor ${t.name}: external data without a location`, { file: this.modelFile });
    const resolved = path.resolve(this.dir, location);
    if (path.isAbsolute(location) || !resolved.startsWith(this.dir + path.sep)) {
      throw new RebakeError('ONNX_EXTERNAL_ESCAPE', `tensor ${t.name}: external data location "${location}" is outside the model's folder`, { file: this.modelFile });
    }
    let fd = this.fds.get(resolved);
    if (fd === undefined) {
      try {
        fd = fs.openSync(resolved, 'r');
      } catch {
        throw new RebakeError('ONNX_EXTERNAL', `tensor ${t.name}: external data file "${location}" not found next to the model`, { file: this.modelFile });
      }
      this.fds.set(resolved, fd);
    }
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : byteLength;
    if (length !== byteLength) {
      throw new RebakeError('ONNX_EXTERNAL', `tensor ${t.name}: external data length ${length} != ${byteLength} bytes its dims need`, { file: this.modelFile });
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > fs.fstatSync(fd).size) {
      throw new RebakeError('ONNX_EXTERNAL', `tensor ${t.name}: external data file "${location}" ends before offset ${kv.get('offset') ?? 0}+${length}`, { file: this.modelFile });
    }
    const out = Buffer.allocUnsafe(length);
    const got = fs.readSync(fd, out, 0, length, offset);
    if (got !== length) {
      throw new RebakeError('ONNX_EXTERNAL', `tensor ${t.name}: external data file "${location}" ends before offset ${offset}+${length}`, { file: this.modelFile });
    }
    return out;
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

function tensorFromProto(t: ITensorProto, external: ExternalReader | undefined, file: string): Tensor {
  const name = t.name ?? '';
  const dataType = (t.dataType ?? 0) as DataType;
  const dims = (t.dims ?? []).map((d) => num(d as number));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new RebakeError('ONNX_TENSOR_SIZE', `tensor ${name}: dims [${dims}] must be whole numbers >= 0`, { file });
  const count = elementCount(dims);
  if (dataType === DataType.STRING) throw new RebakeError('ONNX_DTYPE', `tensor ${name}: string tensors are not supported`, { file });
  let probe: TensorData;
  try {
    probe = typedArrayFor(dataType, 0);
  } catch (e) {
    if (e instanceof RebakeError) throw new RebakeError(e.code, `tensor ${name}: ${e.detail}`, { file });
    throw e;
  }
  let data: TensorData;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    if (!external) throw new RebakeError('ONNX_EXTERNAL', `tensor ${name}: external data inside an attribute is not supported`, { file });
    return lazyTensor(name, dataType, dims, external.read(t, count * probe.BYTES_PER_ELEMENT));
  } else if (t.rawData && t.rawData.byteLength > 0) {
    try {
      return lazyTensor(name, dataType, dims, t.rawData, true);
    } catch (e) {
      throw new RebakeError('ONNX_TENSOR_SIZE', `tensor ${name} (${dataTypeName(dataType)} [${dims}]): ${(e as RebakeError).detail ?? (e as Error).message}`, { file });
    }
  } else {
    const typed: ArrayLike<unknown> =
      dataType === DataType.FLOAT ? (t.floatData ?? []) :
      dataType === DataType.DOUBLE ? (t.doubleData ?? []) :
      dataType === DataType.INT64 ? (t.int64Data ?? []) :
      dataType === DataType.UINT64 || dataType === DataType.UINT32 ? (t.uint64Data ?? []) :
      (t.int32Data ?? []);
    // Checked before allocating: the dims are the user's, the values are what the file really holds.
    if (typed.length !== count) {
      throw new RebakeError('ONNX_TENSOR_SIZE', `tensor ${name} (${dataTypeName(dataType)} [${dims}]): ${typed.length} values, dims need ${count}`, { file });
    }
    data = typedArrayFor(dataType, count);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      for (let i = 0; i < count; i++) data[i] = BigInt(num(typed[i] as number));
    } else {
      // int32_data holds fp16 bits and 8/16-bit ints widened; typed-array stores truncate them back exactly.
      for (let i = 0; i < count; i++) (data as Float32Array)[i] = num(typed[i] as number);
    }
  }
  return { name, dataType, dims, data };
}

function tensorToProto(t: Tensor): ITensorProto {
  return { name: t.name, dataType: t.dataType, dims: t.dims, rawData: tensorBytes(t) };
}

function valueInfoFromProto(v: IValueInfoProto): ValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  const shape: Dim[] | undefined = tt?.shape ? (dims ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? num(d.dimValue as number) : -1)) : undefined;
  return { name: v.name ?? '', elemType: (tt?.elemType ?? 0) as DataType, shape };
}

function valueInfoToProto(v: ValueInfo): IValueInfoProto {
  const shape = v.shape ? { dim: v.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : d >= 0 ? { dimValue: d } : {})) } : undefined;
  return { name: v.name, type: { tensorType: { elemType: v.elemType, shape } } };
}

const AT = onnx.AttributeProto.AttributeType;

function attrFromProto(a: IAttributeProto, file: string): AttrValue {
  const dec = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');
  switch (a.type) {
    case AT.INT: return { kind: 'int', value: num(a.i as number) };
    case AT.FLOAT: return { kind: 'float', value: a.f ?? 0 };
    case AT.STRING: return { kind: 'string', value: dec(a.s) };
    case AT.INTS: return { kind: 'ints', value: (a.ints ?? []).map((x) => num(x as number)) };
    case AT.FLOATS: return { kind: 'floats', value: [...(a.floats ?? [])] };
    case AT.STRINGS: return { kind: 'strings', value: (a.strings ?? []).map(dec) };
    case AT.TENSOR: return { kind: 'tensor', value: tensorFromProto(a.t!, undefined, file) };
    default: return { kind: 'opaque', value: a };
  }
}

function attrToProto(name: string, v: AttrValue): IAttributeProto {
  switch (v.kind) {
    case 'int': return { name, type: AT.INT, i: v.value };
    case 'float': return { name, type: AT.FLOAT, f: v.value };
    case 'string': return { name, type: AT.STRING, s: Buffer.from(v.value, 'utf8') };
    case 'ints': return { name, type: AT.INTS, ints: v.value };
    case 'floats': return { name, type: AT.FLOATS, floats: v.value };
    case 'strings': return { name, type: AT.STRINGS, strings: v.value.map((s) => Buffer.from(s, 'utf8')) };
    case 'tensor': return { name, type: AT.TENSOR, t: tensorToProto(v.value) };
    case 'opaque': return v.value as IAttributeProto;
  }
}

function graphFromProto(g: IGraphProto, external: ExternalReader, file: string): Graph {
  const graph = new Graph();
  graph.name = g.name ?? 'main';
  for (const t of g.initializer ?? []) graph.setInitializer(tensorFromProto(t, external, file));
  // Initializers listed as graph inputs (old exporters) are weights, not inputs the user feeds.
  graph.inputs = (g.input ?? []).filter((v) => !graph.initializers.has(v.name ?? '')).map(valueInfoFromProto);
  graph.outputs = (g.output ?? []).map(valueInfoFromProto);
  for (const v of g.valueInfo ?? []) graph.valueInfo.set(v.name ?? '', valueInfoFromProto(v));
  let anon = 0;
  for (const n of g.node ?? []) {
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrFromProto(a, file);
    graph.addNode({ name: n.name || `${n.opType}_anon${anon++}`, opType: n.opType ?? '', domain: n.domain === 'ai.onnx' ? '' : (n.domain ?? ''), inputs: n.input ?? [], outputs: n.output ?? [], attrs });
  }
  return graph;
}

function nodeToProto(n: Node): INodeProto {
  return {
    name: n.name,
    opType: n.opType,
    domain: n.domain || undefined,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs).map(([k, v]) => attrToProto(k, v)),
  };
}

export interface SaveResult {
  bytes: number;
  externalDataFile?: string;
}

type Externalized = Map<string, { offset: number; length: number }>;

/** The ModelProto minus the weight bytes; tensors listed in `externalize` reference `dataFile` instead. */
function modelToProto(model: Model, externalize?: Externalized, dataFile?: string): { proto: IModelProto; headers: ITensorProto[]; payloads: (Uint8Array | undefined)[] } {
  const g = model.graph;
  const headers: ITensorProto[] = [];
  const payloads: (Uint8Array | undefined)[] = [];
  for (const t of g.initializers.values()) {
    const ext = externalize?.get(t.name);
    if (ext) {
      headers.push({
        name: t.name, dataType: t.dataType, dims: t.dims, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [{ key: 'location', value: dataFile }, { key: 'offset', value: String(ext.offset) }, { key: 'length', value: String(ext.length) }],
      });
      payloads.push(undefined);
    } else {
      headers.push({ name: t.name, dataType: t.dataType, dims: t.dims });
      payloads.push(tensorBytes(t));
    }
  }
  const graph: IGraphProto = {
    name: g.name,
    node: g.topoSort().map(nodeToProto),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: [...g.valueInfo.values()].filter((v) => g.producer(v.name)).map(valueInfoToProto),
  };
  const proto = { ...model.rest, irVersion: model.irVersion, opsetImport: model.opsetImport, producerName: model.producerName, producerVersion: model.producerVersion, graph };
  return { proto, headers, payloads };
}

// Protobuf tags (field number << 3 | length-delimited) of the fields written by hand below.
const TAG_MODEL_GRAPH = (7 << 3) | 2;
const TAG_GRAPH_INITIALIZER = (5 << 3) | 2;
const TAG_TENSOR_RAW_DATA = (9 << 3) | 2;

function lengthPrefix(tag: number, length: number): Uint8Array {
  const out = [tag];
  let n = length;
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/**
 * The model as a list of byte chunks whose concatenation is a valid ModelProto. The weights are not copied
 * into one big encoded buffer: each raw_data payload is its own chunk (protobuf fields may come in any order,
 * so the initializers are written after the rest of the graph, with hand-written tags and lengths).
 */
function modelChunks(model: Model, externalize?: Externalized, dataFile?: string): Uint8Array[] {
  const { proto, headers, payloads } = modelToProto(model, externalize, dataFile);
  const graphHead = onnx.GraphProto.encode(proto.graph!).finish();
  const tensorChunks: Uint8Array[] = [];
  let graphLength = graphHead.byteLength;
  headers.forEach((h, i) => {
    const head = onnx.TensorProto.encode(h).finish();
    const raw = payloads[i];
    const rawPrefix = raw?.byteLength ? lengthPrefix(TAG_TENSOR_RAW_DATA, raw.byteLength) : undefined;
    const tensorLength = head.byteLength + (rawPrefix ? rawPrefix.byteLength + raw!.byteLength : 0);
    const prefix = lengthPrefix(TAG_GRAPH_INITIALIZER, tensorLength);
    tensorChunks.push(prefix, head);
    if (rawPrefix) tensorChunks.push(rawPrefix, raw!);
    graphLength += prefix.byteLength + tensorLength;
  });
  const modelHead = onnx.ModelProto.encode({ ...proto, graph: undefined }).finish();
  return [modelHead, lengthPrefix(TAG_MODEL_GRAPH, graphLength), graphHead, ...tensorChunks];
}

export function encodeModel(model: Model): Uint8Array {
  const buf = Buffer.concat(modelChunks(model));
  // A plain Uint8Array, so that callers' slice() copies (Buffer#slice would alias).
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * An independent deep copy (its own weight bytes): e.g. a stage that adds intermediate graph outputs to run
 * onnxruntime on, leaving the model being built untouched.
 */
export function cloneModel(model: Model, file = 'clone.onnx'): Model {
  return decodeModel(encodeModel(model), file);
}

/** Write atomically; weights above EXTERNAL_DATA_LIMIT go to `<file>.data` beside it. */
export function saveModel(model: Model, file: string, opts: { externalDataLimit?: number } = {}): SaveResult {
  const limit = opts.externalDataLimit ?? EXTERNAL_DATA_LIMIT;
  let total = 0;
  for (const t of model.graph.initializers.values()) total += tensorByteLength(t);
  if (total <= limit) {
    const chunks = modelChunks(model);
    writeFileAtomic(file, chunks);
    return { bytes: chunks.reduce((a, c) => a + c.byteLength, 0) };
  }
  const dataFile = `${path.basename(file)}.data`;
  const externalize: Externalized = new Map();
  const dataChunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of model.graph.initializers.values()) {
    const length = tensorByteLength(t);
    if (length < 1024) continue;
    // 4 KiB alignment lets ORT memory-map the weights.
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad) dataChunks.push(new Uint8Array(pad));
    offset += pad;
    externalize.set(t.name, { offset, length });
    dataChunks.push(tensorBytes(t));
    offset += length;
  }
  writeFileAtomic(path.join(path.dirname(file), dataFile), dataChunks);
  const chunks = modelChunks(model, externalize, dataFile);
  writeFileAtomic(file, chunks);
  return { bytes: chunks.reduce((a, c) => a + c.byteLength, 0) + offset, externalDataFile: dataFile };
}

/** An empty model to build into (zoo generator, tests). */
export function createModel(opset = 13, producerName = 'rebake'): Model {
  return { graph: new Graph(), irVersion: 7, opsetImport: [{ domain: '', version: opset }], producerName, producerVersion: '', rest: {} };
}
