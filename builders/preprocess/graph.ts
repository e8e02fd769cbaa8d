/**
 * The preprocessing plan as ONNX nodes (opset >= 11), on a uint8 [N,C,H,W] value with static H and W, so every
 * coefficient table is a constant. Semantics are those of plan.ts / tables.ts, bit for bit:
 *
 * BILINEAR_CV (exact integer arithmetic, pixel-identical to OpenCV):
 *   Gather the 2 source rows of every output row (uint8, whole rows: cheap block copies)   [N,C,2,RH,W]
 *   Transpose the last two axes so the column Gather also copies blocks, not single bytes [N,C,2,W,RH]
 *   Gather the 2 source columns of every output column                                    [N,C,2,2,RW,RH]
 *   Cast float32, Mul 11-bit column weights, ReduceSum the column taps = S (integers < 2^20: exact in float32)
 *   q = Floor(S / 16) (power of two: exact); Cast int32; Mul row weights; Div 65536 (int32 Div on non-negative
 *   values = floor; q * w < 2^27); ReduceSum the row taps; Add 2; Div 4 (<= 255, no clip needed); Cast uint8;
 *   Transpose back                                                                         [N,C,RH,RW]
 *   Measured alternatives (onnxruntime-node 1.30, 711x397 -> 256x256, one thread): one Gather over the flattened
 *   image (1-byte blocks) 12 ms; all-float64 vertical step 2.3-3.5 ms; int32 horizontal step 3.1-3.7 ms; this
 *   one 2.8-3.1 ms (the machine is shared: ranges are medians over runs).
 * BILINEAR_PILLOW: per pass (horizontal, then vertical) Gather the filter taps, int32 Mul by the 22-bit
 *   coefficients, ReduceSum, Add 2^21, Div 2^22, Cast uint8 (sum < 2^31, result <= 255).
 * BILINEAR: Cast float32, Resize(linear, half_pixel), Round (half to even), Cast uint8.
 */
import { InternalError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import { LETTERBOX_PAD, type PreprocessPlan, type ResizeStep } from './plan.js';
import { cvAxis, cvTaps, pillowAxis, PILLOW_BITS, type PillowAxis } from './tables.js';

type Attrs = Record<string, number | number[] | string>;

/** Adds nodes named `<prefix>/<step>/<op>` and constants, in the opset's spelling. */
export class Emitter {
  /** Every node added, in order. */
  readonly nodes: string[] = [];

  constructor(
    readonly g: Graph,
    readonly opset: number,
    readonly prefix = '/preprocess',
  ) {
    if (opset < 11) throw new InternalError(`preprocessing graph needs opset >= 11, got ${opset}`);
  }

  op(step: string, opType: string, inputs: string[], attrs: Attrs = {}): string {
    const name = this.g.uniqueName(`${this.prefix}/${step}/${opType}`);
    const out = this.g.uniqueName(`${name}_output`);
    this.g.addNode({ name, opType, inputs, outputs: [out], attrs });
    this.nodes.push(name);
    return out;
  }

  constant(step: string, name: string, dataType: DataType, dims: number[], data: ArrayLike<number>): string {
    return this.g.addInitializer(`${this.prefix}/${step}/${name}`, dataType, dims, data);
  }

  /** Sum over one axis, dropping it (axes moved from attribute to input in opset 13). */
  reduceSum(step: string, x: string, axis: number): string {
    if (this.opset >= 13) return this.op(step, 'ReduceSum', [x, this.constant(step, 'axes', DataType.INT64, [1], [axis])], { keepdims: 0 });
    return this.op(step, 'ReduceSum', [x], { axes: [axis], keepdims: 0 });
  }

  cast(step: string, x: string, to: DataType): string {
    return this.op(step, 'Cast', [x], { to });
  }

  scalar(step: string, name: string, dataType: DataType, v: number): string {
    return this.constant(step, name, dataType, [], [v]);
  }
}

export interface GeometryResult {
  /** uint8 [N,C,OH,OW]: resized (letterboxed) and cropped. */
  value: string;
  /** uint8 after resize and letterbox padding, before the crop. */
  resized: string;
  /** Node names per step (absent: the step is a no-op for this plan). */
  nodes: { resize?: string[]; pad?: string[]; crop?: string[] };
}

/** Resize / letterbox / crop of uint8 `x` ([N,C,plan.inH,plan.inW]). */
export function emitGeometry(e: Emitter, plan: PreprocessPlan, x: string): GeometryResult {
  const nodes: GeometryResult['nodes'] = {};
  const track = <T>(key: keyof GeometryResult['nodes'], f: () => T): T => {
    const before = e.nodes.length;
    const v = f();
    nodes[key] = e.nodes.slice(before);
    return v;
  };
  let v = x;
  const r = plan.resize;
  if (r) v = track('resize', () => emitResize(e, v, r));
  const pad = plan.pad;
  if (pad) {
    v = track('pad', () => {
      const pads = e.constant('letterbox', 'pads', DataType.INT64, [8], [0, 0, pad.top, pad.left, 0, 0, pad.bottom, pad.right]);
      const value = e.scalar('letterbox', 'value', DataType.UINT8, LETTERBOX_PAD);
      return e.op('letterbox', 'Pad', [v, pads, value], { mode: 'constant' });
    });
  }
  const resized = v;
  const crop = plan.crop;
  if (crop) {
    v = track('crop', () =>
      e.op('crop', 'Slice', [
        v,
        e.constant('crop', 'starts', DataType.INT64, [2], [crop.y, crop.x]),
        e.constant('crop', 'ends', DataType.INT64, [2], [crop.y + crop.h, crop.x + crop.w]),
        e.constant('crop', 'axes', DataType.INT64, [2], [2, 3]),
      ]),
    );
  }
  return { value: v, resized, nodes };
}

export function emitResize(e: Emitter, x: string, r: ResizeStep): string {
  switch (r.kind) {
    case 'BILINEAR_CV':
      return emitResizeCv(e, x, r);
    case 'BILINEAR_PILLOW':
      return emitResizePillow(e, x, r);
    case 'BILINEAR':
      return emitResizeLinear(e, x, r);
  }
}

function emitResizeCv(e: Emitter, x: string, r: ResizeStep): string {
  const s = 'resize';
  const cy = cvAxis(r.fromH, r.toH, false);
  const cx = cvAxis(r.fromW, r.toW, true);
  const rows = e.constant(s, 'rows', DataType.INT32, [2, r.toH], cvTaps(cy, r.fromH));
  const cols = e.constant(s, 'cols', DataType.INT32, [2, r.toW], cvTaps(cx, r.fromW));
  const colW = new Float32Array(2 * r.toW);
  colW.set(cx.w0, 0);
  colW.set(cx.w1, r.toW);
  const rowW = new Int32Array(2 * r.toH);
  rowW.set(cy.w0, 0);
  rowW.set(cy.w1, r.toH);
  let v = e.op(s, 'Gather', [x, rows], { axis: 2 }); // [N,C,2,RH,W]
  v = e.op(s, 'Transpose', [v], { perm: [0, 1, 2, 4, 3] }); // [N,C,2,W,RH]
  v = e.op(s, 'Gather', [v, cols], { axis: 3 }); // [N,C,2,2,RW,RH]
  v = e.cast(s, v, DataType.FLOAT);
  v = e.op(s, 'Mul', [v, e.constant(s, 'col_weights', DataType.FLOAT, [2, r.toW, 1], colW)]);
  v = e.reduceSum(s, v, 3); // S: [N,C,2,RW,RH]
  v = e.op(s, 'Mul', [v, e.scalar(s, 'one_16th', DataType.FLOAT, 1 / 16)]);
  v = e.op(s, 'Floor', [v]);
  v = e.cast(s, v, DataType.INT32);
  v = e.op(s, 'Mul', [v, e.constant(s, 'row_weights', DataType.INT32, [2, 1, r.toH], rowW)]);
  v = e.op(s, 'Div', [v, e.scalar(s, 'two_16', DataType.INT32, 1 << 16)]); // shifts 4 + 16 + 2 = 2 x 11 weight bits
  v = e.reduceSum(s, v, 2); // [N,C,RW,RH]
  v = e.op(s, 'Add', [v, e.scalar(s, 'two', DataType.INT32, 2)]);
  v = e.op(s, 'Div', [v, e.scalar(s, 'four', DataType.INT32, 4)]);
  v = e.cast(s, v, DataType.UINT8);
  return e.op(s, 'Transpose', [v], { perm: [0, 1, 3, 2] });
}

/** One Pillow pass over axis 2 of `x` ([N,C,src,M] -> [N,C,dst,M]). */
function pillowPass(e: Emitter, x: string, ax: PillowAxis, src: number, dst: number, step: string): string {
  const idx = new Int32Array(ax.ksize * dst);
  const coef = new Int32Array(ax.ksize * dst);
  for (let d = 0; d < dst; d++) {
    for (let t = 0; t < ax.ksize; t++) {
      const inside = t < ax.count[d];
      idx[t * dst + d] = Math.min(ax.start[d] + (inside ? t : 0), src - 1);
      coef[t * dst + d] = inside ? ax.k[d * ax.ksize + t] : 0;
    }
  }
  let v = e.op(step, 'Gather', [x, e.constant(step, 'taps', DataType.INT32, [ax.ksize, dst], idx)], { axis: 2 }); // [N,C,K,dst,M]
  v = e.cast(step, v, DataType.INT32);
  v = e.op(step, 'Mul', [v, e.constant(step, 'coefficients', DataType.INT32, [ax.ksize, dst, 1], coef)]);
  v = e.reduceSum(step, v, 2);
  v = e.op(step, 'Add', [v, e.scalar(step, 'half', DataType.INT32, 1 << (PILLOW_BITS - 1))]);
  v = e.op(step, 'Div', [v, e.scalar(step, 'one', DataType.INT32, 1 << PILLOW_BITS)]);
  return e.cast(step, v, DataType.UINT8);
}

function emitResizePillow(e: Emitter, x: string, r: ResizeStep): string {
  let v = x;
  if (r.toW !== r.fromW) {
    v = e.op('resize', 'Transpose', [v], { perm: [0, 1, 3, 2] });
    v = pillowPass(e, v, pillowAxis(r.fromW, r.toW), r.fromW, r.toW, 'resize');
    v = e.op('resize', 'Transpose', [v], { perm: [0, 1, 3, 2] });
  }
  if (r.toH !== r.fromH) v = pillowPass(e, v, pillowAxis(r.fromH, r.toH), r.fromH, r.toH, 'resize');
  return v;
}

function emitResizeLinear(e: Emitter, x: string, r: ResizeStep): string {
  const s = 'resize';
  const shape = e.op(s, 'Shape', [x]);
  const nc = e.op(s, 'Slice', [shape, e.constant(s, 'nc_start', DataType.INT64, [1], [0]), e.constant(s, 'nc_end', DataType.INT64, [1], [2])]);
  const sizes = e.op(s, 'Concat', [nc, e.constant(s, 'hw', DataType.INT64, [2], [r.toH, r.toW])], { axis: 0 });
  const empty = e.constant(s, 'empty', DataType.FLOAT, [0], []);
  let v = e.cast(s, x, DataType.FLOAT);
  v = e.op(s, 'Resize', [v, empty, empty, sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  v = e.op(s, 'Round', [v]);
  return e.cast(s, v, DataType.UINT8);
}
