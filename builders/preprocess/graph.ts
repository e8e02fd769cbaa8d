/**
 * The preprocessing plan as ONNX nodes (opset >= 11), on a uint8 [N,C,H,W] value with static H and W, so every
 * coefficient table is a constant. Semantics are those of plan.ts / tables.ts, bit for bit:
 *
 * BILINEAR_CV (exact integer arithmetic, pixel-identical to OpenCV), per row tap k and column tap j:
 *   Gather source rows k of every output row (uint8, whole rows: block copies)            [N,C,h,W]
 *   Transpose the last two axes, so the column Gather also copies blocks, not bytes        [N,C,W,h]
 *   Gather source columns j, Cast float32, Mul the 11-bit column weights; Add over j = S   [N,C,w,h]
 *   (S < 2^20: exact in float32); q = Floor(S / 16) (a power of two: exact); Cast int32; Mul the row
 *   weights; Div 65536 (int32 Div of non-negative values = floor; q * w < 2^27); Add over k; Add 2; Div 4
 *   (<= 255: no clip needed); Cast uint8; Transpose back                                   [N,C,h,w]
 *   Measured (onnxruntime-node 1.30, one thread, 711x397 -> 256x256, shared loaded machine): one Gather of
 *   single bytes over the flattened image 12 ms; the taps as an extra axis summed by ReduceSum 2.8-3.1 ms
 *   (float64 vertical step 2.3-3.5 ms, int32 horizontal step 3.1-3.7 ms); this split form 15-30% below the
 *   ReduceSum form at batch 1 and 8.
 * BILINEAR_PILLOW: per pass (horizontal, then vertical) Gather the filter taps, int32 Mul by the 22-bit
 *   coefficients, ReduceSum, Add 2^21, Div 2^22, Cast uint8 (sum < 2^31, result <= 255). Shrinking by s
 *   takes 2*ceil(s)+1 taps, and the gathered tensor is that many times the pass output: fine for the usual
 *   <= 3x, heavy for a photo-to-thumbnail graph (4000x3000 -> 256x256: 33 taps, ~300 MB of int32 per image).
 * BILINEAR: Cast float32, Resize(linear, half_pixel), Round (half to even), Cast uint8 (then Slice the window).
 */
import { InternalError } from '../../core/errors.js';
import type { Graph } from '../ir/graph.js';
import { DataType } from '../../core/tensor.js';
import { LETTERBOX_PAD, type PreprocessPlan, type ResizeStep, type Window } from './plan.js';
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
  /** The resize output (letterbox: after the padding): the whole resized image, or only the crop window
   * when the resize resamples just that window (`cropInResize`). */
  resized: string;
  cropInResize: boolean;
  /** Node names per step (absent: the step is a no-op for this plan). */
  nodes: { resize?: string[]; pad?: string[]; crop?: string[] };
}

/**
 * Resize / letterbox / crop of uint8 `x` ([N,C,plan.inH,plan.inW]). With a crop, the integer resizes
 * (BILINEAR_CV, BILINEAR_PILLOW) resample only the crop window: each output pixel depends on the source
 * alone, so that equals cropping the full resize, for (256/224)^2 = 1.3x less work in the zoo's configs.
 */
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
  const crop = plan.crop;
  const cropInResize = !!(r && crop && r.kind !== 'BILINEAR');
  if (r) v = track('resize', () => emitResize(e, v, r, cropInResize ? crop : undefined));
  const pad = plan.pad;
  if (pad) {
    v = track('pad', () => {
      const pads = e.constant('letterbox', 'pads', DataType.INT64, [8], [0, 0, pad.top, pad.left, 0, 0, pad.bottom, pad.right]);
      const value = e.scalar('letterbox', 'value', DataType.UINT8, LETTERBOX_PAD);
      return e.op('letterbox', 'Pad', [v, pads, value], { mode: 'constant' });
    });
  }
  const resized = v;
  if (crop && !cropInResize) v = track('crop', () => sliceWindow(e, 'crop', v, crop));
  return { value: v, resized, cropInResize, nodes };
}

function sliceWindow(e: Emitter, step: string, x: string, win: Window): string {
  return e.op(step, 'Slice', [
    x,
    e.constant(step, 'starts', DataType.INT64, [2], [win.y, win.x]),
    e.constant(step, 'ends', DataType.INT64, [2], [win.y + win.h, win.x + win.w]),
    e.constant(step, 'axes', DataType.INT64, [2], [2, 3]),
  ]);
}

/** Resize `x` per `r`; with `win`, only that window of the resized image. */
export function emitResize(e: Emitter, x: string, r: ResizeStep, win?: Window): string {
  const wd = win ?? { x: 0, y: 0, w: r.toW, h: r.toH };
  switch (r.kind) {
    case 'BILINEAR_CV':
      return emitResizeCv(e, x, r, wd);
    case 'BILINEAR_PILLOW':
      return emitResizePillow(e, x, r, wd);
    case 'BILINEAR': {
      const v = emitResizeLinear(e, x, r);
      return win ? sliceWindow(e, 'resize', v, win) : v;
    }
  }
}

function emitResizeCv(e: Emitter, x: string, r: ResizeStep, wd: Window): string {
  const s = 'resize';
  const cy = cvAxis(r.fromH, r.toH, false);
  const cx = cvAxis(r.fromW, r.toW, true);
  const rowTaps = cvTaps(cy, r.fromH);
  const colTaps = cvTaps(cx, r.fromW);
  // Tap k of output d sits at k * dst + d in the tap tables; keep the window's outputs.
  const tap = (taps: Int32Array, dst: number, k: number, from: number, n: number) => taps.subarray(k * dst + from, k * dst + from + n);
  const window = (w: Int32Array, from: number, n: number) => w.subarray(from, from + n);
  const rowTerms: string[] = [];
  for (let k = 0; k < 2; k++) {
    let rows = e.op(s, 'Gather', [x, e.constant(s, `rows${k}`, DataType.INT32, [wd.h], tap(rowTaps, r.toH, k, wd.y, wd.h))], { axis: 2 }); // [N,C,h,W]
    rows = e.op(s, 'Transpose', [rows], { perm: [0, 1, 3, 2] }); // [N,C,W,h]
    const colTerms: string[] = [];
    for (let j = 0; j < 2; j++) {
      const p = e.op(s, 'Gather', [rows, e.constant(s, `cols${j}`, DataType.INT32, [wd.w], tap(colTaps, r.toW, j, wd.x, wd.w))], { axis: 2 }); // [N,C,w,h]
      const weights = Float32Array.from(window(j === 0 ? cx.w0 : cx.w1, wd.x, wd.w));
      colTerms.push(e.op(s, 'Mul', [e.cast(s, p, DataType.FLOAT), e.constant(s, `col_weights${j}`, DataType.FLOAT, [wd.w, 1], weights)]));
    }
    let v = e.op(s, 'Add', colTerms); // S
    v = e.op(s, 'Floor', [e.op(s, 'Mul', [v, e.scalar(s, 'one_16th', DataType.FLOAT, 1 / 16)])]);
    v = e.cast(s, v, DataType.INT32);
    v = e.op(s, 'Mul', [v, e.constant(s, `row_weights${k}`, DataType.INT32, [wd.h], window(k === 0 ? cy.w0 : cy.w1, wd.y, wd.h))]);
    rowTerms.push(e.op(s, 'Div', [v, e.scalar(s, 'two_16', DataType.INT32, 1 << 16)])); // shifts 4 + 16 + 2 = 2 x 11 weight bits
  }
  let v = e.op(s, 'Add', rowTerms);
  v = e.op(s, 'Add', [v, e.scalar(s, 'two', DataType.INT32, 2)]);
  v = e.op(s, 'Div', [v, e.scalar(s, 'four', DataType.INT32, 4)]);
  v = e.cast(s, v, DataType.UINT8);
  return e.op(s, 'Transpose', [v], { perm: [0, 1, 3, 2] }); // [N,C,h,w]
}

/** One Pillow pass over axis 2 of `x` ([N,C,src,M] -> [N,C,n,M]) for outputs from..from+n-1. */
function pillowPass(e: Emitter, x: string, ax: PillowAxis, src: number, from: number, n: number, step: string): string {
  const idx = new Int32Array(ax.ksize * n);
  const coef = new Int32Array(ax.ksize * n);
  for (let i = 0; i < n; i++) {
    const d = from + i;
    for (let t = 0; t < ax.ksize; t++) {
      const inside = t < ax.count[d];
      idx[t * n + i] = Math.min(ax.start[d] + (inside ? t : 0), src - 1);
      coef[t * n + i] = inside ? ax.k[d * ax.ksize + t] : 0;
    }
  }
  let v = e.op(step, 'Gather', [x, e.constant(step, 'taps', DataType.INT32, [ax.ksize, n], idx)], { axis: 2 }); // [N,C,K,n,M]
  v = e.cast(step, v, DataType.INT32);
  v = e.op(step, 'Mul', [v, e.constant(step, 'coefficients', DataType.INT32, [ax.ksize, n, 1], coef)]);
  v = e.reduceSum(step, v, 2);
  v = e.op(step, 'Add', [v, e.scalar(step, 'half', DataType.INT32, 1 << (PILLOW_BITS - 1))]);
  v = e.op(step, 'Div', [v, e.scalar(step, 'one', DataType.INT32, 1 << PILLOW_BITS)]);
  return e.cast(step, v, DataType.UINT8);
}

function emitResizePillow(e: Emitter, x: string, r: ResizeStep, wd: Window): string {
  let v = x;
  const s = 'resize';
  if (r.toW !== r.fromW) {
    v = e.op(s, 'Transpose', [v], { perm: [0, 1, 3, 2] });
    v = pillowPass(e, v, pillowAxis(r.fromW, r.toW), r.fromW, wd.x, wd.w, s);
    v = e.op(s, 'Transpose', [v], { perm: [0, 1, 3, 2] });
  }
  if (r.toH !== r.fromH) v = pillowPass(e, v, pillowAxis(r.fromH, r.toH), r.fromH, wd.y, wd.h, s);
  // An axis Pillow does not resample still has to be cut to the window.
  const rest = { x: r.toW !== r.fromW ? 0 : wd.x, y: r.toH !== r.fromH ? 0 : wd.y, w: wd.w, h: wd.h };
  const full = (r.toW !== r.fromW || wd.w === r.toW) && (r.toH !== r.fromH || wd.h === r.toH);
  return full ? v : sliceWindow(e, s, v, rest);
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
