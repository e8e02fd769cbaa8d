/**
 * The algebra of collapse-affine-regions: a value inside an affine region is a sum, over the region's
 * inputs (sources), of a zero-padded convolution of that source, plus one bias per channel:
 *
 *   v = sum_s Conv(s; W_s, strides, dilations, pads, group) + b          (b uniform over space)
 *
 * Each op of the region maps such a value to another, exactly, or says why it cannot:
 * - per-channel scale and shift (BatchNormalization, Mul/Div/Add/Sub by a per-channel constant): scale the
 *   kernels' output rows and the bias, shift the bias;
 * - sum or difference of two values: terms of the same source are embedded into one kernel (aligned on the
 *   input pixels they read, as merge-conv-branches does) in the coarsest group structure both share;
 * - a Conv, AveragePool (a fixed depthwise kernel) or zero Pad (a 1x1 identity kernel with pads) applied to
 *   a value: the kernels compose (taps at s_in * d_out * t + d_in * u, stride s_in * s_out). A zero-padding
 *   consumer is exact only where the value is 0 outside its own extent: the bias must be 0 and the inner
 *   kernel may read nothing but padding there; otherwise the padded border would differ.
 * Whether the result is worth it (fewer MACs than the ops it replaces) is decided for a whole region, by its
 * cost: a DBB average-pool branch alone is dearer as a dense kernel, but free inside the block's KxK one.
 * Kernels are float64 until they become a Conv's float32 weights.
 */
import type { Node } from '../../ir/graph.js';
import { addKernelInto } from './conv.js';

/** A zero-padded convolution without bias: weights [m, cin/group, ...kernel]. */
export interface Kernel {
  m: number;
  cin: number;
  group: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  /** A Conv's own float32 weights are used as they are (never written); derived kernels are float64. */
  w: Float32Array | Float64Array;
}

export interface Term extends Kernel {
  source: string;
}

export interface Affine {
  /** One term per distinct source. */
  terms: Term[];
  bias: Float64Array;
  /**
   * Per channel, the sum of the magnitudes that went into the bias: a bias within float32 rounding of 0
   * relative to it (DBB's pad(BN(x) - shift) + shift) counts as 0.
   */
  biasMagnitude: Float64Array;
  m: number;
  /** Spatial rank. */
  sp: number;
  /** Multiply-accumulates (and elementwise ops) per output pixel of the graph nodes it stands for. */
  cost: number;
  nodes: Node[];
}

/** Relative float32 rounding (a few ulps) below which a bias made of cancelling terms counts as 0. */
const ROUNDING = 1e-6;

/** Most multiply-adds one kernel composition may take while building. */
const COMPOSE_BUDGET = 2e8;

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
export const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

export function kernelCost(k: Kernel): number {
  return k.m * (k.cin / k.group) * prod(k.kernel);
}

/** The value `scale[c] * source[c]`, as a depthwise 1x1 kernel. */
export function identityTerm(source: string, c: number, sp: number, scale?: Float64Array): Term {
  const ones = new Array<number>(sp).fill(1);
  return {
    source, m: c, cin: c, group: c, kernel: ones, strides: [...ones], dilations: [...ones],
    padsBegin: new Array(sp).fill(0), padsEnd: new Array(sp).fill(0), w: scale ? Float64Array.from(scale) : new Float64Array(c).fill(1),
  };
}

export function leaf(source: string, c: number, sp: number): Affine {
  return { terms: [identityTerm(source, c, sp)], bias: new Float64Array(c), biasMagnitude: new Float64Array(c), m: c, sp, cost: 0, nodes: [] };
}

/** The source itself: a term that is the plain identity (emitted as the source value, without a Conv). */
export function isUnit(t: Term): boolean {
  return t.group === t.m && t.m === t.cin && t.kernel.every((k) => k === 1) && t.strides.every((s) => s === 1) &&
    t.padsBegin.every((p) => p === 0) && t.padsEnd.every((p) => p === 0) && t.w.every((v) => v === 1);
}

/** The same kernel with a coarser group count g (g divides k.group): the blocks placed on the diagonal. */
export function regroup<K extends Kernel>(k: K, g: number): K {
  if (g === k.group) return k;
  const vol = prod(k.kernel);
  const oldIn = k.cin / k.group;
  const newIn = k.cin / g;
  const w = new Float64Array(k.m * newIn * vol);
  for (let o = 0; o < k.m; o++) {
    const first = Math.floor(o / (k.m / k.group)) * oldIn - Math.floor(o / (k.m / g)) * newIn;
    w.set(k.w.subarray(o * oldIn * vol, (o + 1) * oldIn * vol), (o * newIn + first) * vol);
  }
  return { ...k, group: g, w };
}

/** y[c] = x[c] * scale[c] + shift[c] applied to a value (scale and shift broadcast from length 1). */
export function scaleShift(a: Affine, scale: ArrayLike<number> | undefined, shift: ArrayLike<number> | undefined): Affine {
  const at = (v: ArrayLike<number>, c: number) => (v.length === 1 ? v[0] : v[c]);
  const terms = a.terms.map((t) => {
    if (!scale) return t;
    const w = Float64Array.from(t.w);
    const per = w.length / t.m;
    for (let o = 0; o < t.m; o++) for (let i = o * per; i < (o + 1) * per; i++) w[i] *= at(scale, o);
    return { ...t, w };
  });
  const bias = a.bias.map((b, c) => (scale ? b * at(scale, c) : b) + (shift ? at(shift, c) : 0));
  const biasMagnitude = a.biasMagnitude.map((b, c) => (scale ? b * Math.abs(at(scale, c)) : b) + (shift ? Math.abs(at(shift, c)) : 0));
  return { ...a, terms, bias, biasMagnitude, cost: a.cost + a.m };
}

/** The embedding of same-source kernels a and b into one, or why they do not align. */
function alignedSum(a: Term, b: Term, sign: number): Term | string {
  const sp = a.kernel.length;
  if (a.strides.join() !== b.strides.join()) return `strides [${a.strides}] and [${b.strides}] differ`;
  const dil: number[] = [];
  for (let d = 0; d < sp; d++) {
    if (a.kernel[d] > 1 && b.kernel[d] > 1 && a.dilations[d] !== b.dilations[d]) return `dilations [${a.dilations}] and [${b.dilations}] differ`;
    dil.push(a.kernel[d] > 1 ? a.dilations[d] : b.kernel[d] > 1 ? b.dilations[d] : 1);
  }
  const pb = a.padsBegin.map((p, d) => Math.max(p, b.padsBegin[d]));
  const off = (t: Term) => t.padsBegin.map((p, d) => (pb[d] - p) / dil[d]);
  const [oa, ob] = [off(a), off(b)];
  if (![...oa, ...ob].every(Number.isInteger)) return `pads [${a.padsBegin}] and [${b.padsBegin}] are not a whole number of dilated taps apart`;
  const kernel = a.kernel.map((k, d) => Math.max(oa[d] + k, ob[d] + b.kernel[d]));
  // Smaller kernels go inside the largest (centred, as merge-conv-branches does); a union reading further
  // than either branch would be a bigger conv than the block has.
  if (kernel.some((k, d) => k !== Math.max(a.kernel[d], b.kernel[d]))) {
    return `the ${b.kernel.join('x')} kernel (pads [${b.padsBegin},${b.padsEnd}]) does not sit inside the ${a.kernel.join('x')} one (pads [${a.padsBegin},${a.padsEnd}])`;
  }
  const endPad = (t: Term, o: number[]) => t.padsEnd.map((p, d) => p + (kernel[d] - t.kernel[d] - o[d]) * dil[d]);
  const pe = endPad(a, oa);
  if (endPad(b, ob).join() !== pe.join()) return `end pads [${a.padsEnd}] of ${a.kernel.join('x')} and [${b.padsEnd}] of ${b.kernel.join('x')} give different output sizes`;
  const g = gcd(a.group, b.group);
  const [ra, rb] = [regroup(a, g), regroup(b, g)];
  const w = new Float64Array(a.m * (a.cin / g) * prod(kernel));
  addKernelInto(w, kernel, ra.w, a.kernel, oa);
  const wb = sign === 1 ? rb.w : Float64Array.from(rb.w, (v) => -v);
  addKernelInto(w, kernel, wb, b.kernel, ob);
  return { ...a, group: g, kernel, dilations: dil, padsBegin: pb, padsEnd: pe, w };
}

/** a + sign * b, or why not. */
export function sum(a: Affine, b: Affine, sign: 1 | -1): Affine | string {
  if (a.m !== b.m) return `${a.m} and ${b.m} channels`;
  if (a.sp !== b.sp) return `spatial ranks ${a.sp} and ${b.sp}`;
  const terms = [...a.terms];
  const cost = a.cost + b.cost + a.m;
  for (const t of b.terms) {
    const i = terms.findIndex((s) => s.source === t.source);
    const neg = sign === 1 ? t : { ...t, w: Float64Array.from(t.w, (v) => -v) };
    if (i < 0) {
      terms.push(neg);
      continue;
    }
    const merged = alignedSum(terms[i], t, sign);
    if (typeof merged === 'string') return `the branches on ${t.source} do not align: ${merged}`;
    terms[i] = merged;
  }
  const bias = a.bias.map((v, c) => v + sign * b.bias[c]);
  const biasMagnitude = a.biasMagnitude.map((v, c) => v + b.biasMagnitude[c]);
  return { terms, bias, biasMagnitude, m: a.m, sp: a.sp, cost, nodes: [...a.nodes, ...b.nodes] };
}

function outSize(h: number, k: number, s: number, d: number, pb: number, pe: number): number {
  return Math.floor((h + pb + pe - (k - 1) * d - 1) / s) + 1;
}

/** The end pad that gives the composed conv the output size of `inner` then `outer` for every input size. */
function composedEndPad(inner: Kernel, outer: Kernel, d: number, k: number, dil: number, pb: number): number | undefined {
  const s = inner.strides[d] * outer.strides[d];
  const natural = inner.strides[d] * outer.padsEnd[d] + inner.padsEnd[d];
  // Both sizes are floor-linear in h with period s once positive: two periods past the kernel cover all h.
  const hs = Array.from({ length: (k - 1) * dil + 1 + 4 * s + 8 }, (_, i) => i + 1);
  for (let pe = Math.max(0, natural - s); pe <= natural + s; pe++) {
    const ok = hs.every((h) => {
      const mid = outSize(h, inner.kernel[d], inner.strides[d], inner.dilations[d], inner.padsBegin[d], inner.padsEnd[d]);
      if (mid < 1) return true;
      const out = outSize(mid, outer.kernel[d], outer.strides[d], outer.dilations[d], outer.padsBegin[d], outer.padsEnd[d]);
      return out < 1 || out === outSize(h, k, s, dil, pb, pe);
    });
    if (ok) return pe;
  }
  return undefined;
}

type Geometry = Pick<Kernel, 'kernel' | 'dilations' | 'strides' | 'padsBegin' | 'padsEnd'>;

/** Where outer(inner(x)) reads x, as one kernel's geometry, or why no conv reproduces it. */
function composedGeometry(inner: Kernel, outer: Kernel): Geometry | string {
  const geo: Geometry = { kernel: [], dilations: [], strides: [], padsBegin: [], padsEnd: [] };
  for (let d = 0; d < inner.kernel.length; d++) {
    const [kI, sI, dI] = [inner.kernel[d], inner.strides[d], inner.dilations[d]];
    const [kO, dO] = [outer.kernel[d], outer.dilations[d]];
    const dil = kI === 1 && kO === 1 ? 1 : kI === 1 ? sI * dO : kO === 1 ? dI : gcd(dI, sI * dO);
    const k = ((kI - 1) * dI + (kO - 1) * dO * sI) / dil + 1;
    const pb = sI * outer.padsBegin[d] + inner.padsBegin[d];
    const pe = composedEndPad(inner, outer, d, k, dil, pb);
    if (pe === undefined) return `no end padding reproduces the output size along spatial dim ${d}`;
    geo.kernel.push(k);
    geo.dilations.push(dil);
    geo.strides.push(sI * outer.strides[d]);
    geo.padsBegin.push(pb);
    geo.padsEnd.push(pe);
  }
  return geo;
}

/** outer(inner(x)) as one kernel with geometry geo (the border condition for a padding outer op is the caller's). */
function composeKernels(inner: Term, outer: Kernel, geo: Geometry): Term {
  const sp = inner.kernel.length;
  const g = gcd(inner.group, outer.group);
  const I = regroup(inner, g);
  const O = regroup(outer, g);
  const [mPer, midPer, inPer] = [outer.m / g, inner.m / g, inner.cin / g];
  const [volI, volO, volC] = [prod(inner.kernel), prod(outer.kernel), prod(geo.kernel)];
  // Where tap t of the outer kernel and tap u of the inner one land in the composed kernel.
  const target = new Int32Array(volO * volI);
  for (let t = 0; t < volO; t++) {
    for (let u = 0; u < volI; u++) {
      let [rt, ru, idx] = [t, u, 0];
      for (let d = sp - 1, stride = 1; d >= 0; d--) {
        const ct = rt % outer.kernel[d];
        const cu = ru % inner.kernel[d];
        rt = Math.floor(rt / outer.kernel[d]);
        ru = Math.floor(ru / inner.kernel[d]);
        idx += ((inner.strides[d] * outer.dilations[d] * ct + inner.dilations[d] * cu) / geo.dilations[d]) * stride;
        stride *= geo.kernel[d];
      }
      target[t * volI + u] = idx;
    }
  }
  const w = new Float64Array(outer.m * inPer * volC);
  for (let o = 0; o < outer.m; o++) {
    const q = Math.floor(o / mPer);
    for (let j = 0; j < midPer; j++) {
      const mid = q * midPer + j;
      const ob = (o * midPer + j) * volO;
      for (let i = 0; i < inPer; i++) {
        const ib = (mid * inPer + i) * volI;
        const cb = (o * inPer + i) * volC;
        for (let t = 0; t < volO; t++) {
          const wo = O.w[ob + t];
          if (wo === 0) continue;
          for (let u = 0; u < volI; u++) w[cb + target[t * volI + u]] += wo * I.w[ib + u];
        }
      }
    }
  }
  return { source: inner.source, m: outer.m, cin: inner.cin, group: g, ...geo, w };
}

/** Where a zero-padding outer op would read a nonzero border of `t`, or undefined when it cannot. */
function borderProblem(t: Term, outer: Kernel): string | undefined {
  for (let d = 0; d < t.kernel.length; d++) {
    const reach = (t.kernel[d] - 1) * t.dilations[d];
    if (outer.padsBegin[d] > 0 && reach - t.padsBegin[d] >= t.strides[d]) return `its ${t.kernel.join('x')} kernel from ${t.source} reads real pixels where the padding sits (begin of dim ${d})`;
    if (outer.padsEnd[d] > 0 && t.padsEnd[d] < reach) return `its ${t.kernel.join('x')} kernel from ${t.source} reads real pixels where the padding sits (end of dim ${d})`;
  }
  return undefined;
}

/**
 * outer applied to value a (outer: the Conv/AveragePool/Pad's kernel, outerBias its bias), or why not.
 * `ownCost` is the op's own cost per output pixel.
 */
export function compose(a: Affine, outer: Kernel, outerBias: ArrayLike<number> | undefined, ownCost: number): Affine | string {
  if (outer.cin !== a.m) return `it reads ${outer.cin} channels, the value has ${a.m}`;
  if (outer.kernel.length !== a.sp) return `spatial rank ${outer.kernel.length}, the value has ${a.sp}`;
  const pads = outer.padsBegin.some((p) => p > 0) || outer.padsEnd.some((p) => p > 0);
  const inBias = a.bias.map((b, c) => (Math.abs(b) <= ROUNDING * a.biasMagnitude[c] ? 0 : b));
  if (pads && inBias.some((b) => b !== 0)) {
    return 'it zero-pads a value with a constant offset (a BatchNormalization shift, bias or added constant): the border would differ';
  }
  const geos: Geometry[] = [];
  for (const t of a.terms) {
    const border = pads ? borderProblem(t, outer) : undefined;
    if (border) return `it zero-pads a value whose ${border}`;
    const geo = composedGeometry(t, outer);
    if (typeof geo === 'string') return geo;
    geos.push(geo);
  }
  // Composing kernels costs out * mid * in * taps * taps multiply-adds here; past this the build would
  // stall (an SE block's whole-map average pool before its 1x1 conv), and such a conv is never cheaper.
  const work = a.terms.reduce((acc, t) => acc + (isUnit(t) ? 0 : outer.m * (outer.cin / gcd(t.group, outer.group)) * (t.cin / gcd(t.group, outer.group)) * prod(outer.kernel) * prod(t.kernel)), 0);
  if (work > COMPOSE_BUDGET) return `composing the kernels would take ${work.toExponential(1)} multiply-adds at build time (kept apart)`;
  // On the plain input the op is its own kernel: no copy of a model's weights for the many lone convs.
  const terms = a.terms.map((t, i) => (isUnit(t) ? { ...outer, source: t.source } : composeKernels(t, outer, geos[i])));
  const volO = prod(outer.kernel);
  const midPer = outer.cin / outer.group;
  const bias = new Float64Array(outer.m);
  const biasMagnitude = new Float64Array(outer.m);
  for (let o = 0; o < outer.m; o++) {
    let acc = outerBias ? outerBias[o] : 0;
    let mag = Math.abs(acc);
    const first = Math.floor(o / (outer.m / outer.group)) * midPer;
    for (let j = 0; j < midPer; j++) {
      const [b, bm] = [inBias[first + j], a.biasMagnitude[first + j]];
      if (bm === 0) continue;
      for (let t = 0; t < volO; t++) {
        const w = outer.w[(o * midPer + j) * volO + t];
        acc += w * b;
        mag += Math.abs(w) * bm;
      }
    }
    bias[o] = acc;
    biasMagnitude[o] = mag;
  }
  return { terms, bias, biasMagnitude, m: outer.m, sp: a.sp, cost: a.cost * prod(outer.strides) + ownCost, nodes: a.nodes };
}
