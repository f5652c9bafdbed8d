/**
 * The training kernels' copy and accumulate loops over the wasm heap, written so that any range of
 * their outer index can run on any thread: each loop is a plain function of the heap (as floats),
 * a parameter array and a range [from, to) of its outer index, and writes only the outputs that
 * range owns. On the threaded build (Node, more than one wasm thread) a pool of worker threads
 * shares the wasm memory and runs the ranges side by side (`setHeapLoopPool`, from
 * `@aeflow/tensor/node`); elsewhere the whole range runs here. Every output element receives its
 * terms in the same order whatever the split, so results are the same to the bit on any thread
 * count.
 *
 * The functions are sent to the workers as source text (`HEAP_LOOP_SOURCES`): they must not refer
 * to anything outside their own body.
 */

/** (heap as floats, parameters, [from, to) of the outer index) → writes its share of the output. */
export type HeapLoop = (heap: Float32Array, p: Float64Array, from: number, to: number) => void;

/**
 * im2col, transposed: row R = (ky·kw + kx)·C + c of the [kh·kw·C, n·OH·OW] output, for images
 * [b0, b0 + n), read from x transposed to [C, N, H, W]. Outer index: R.
 * p = [out, x, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left, b0, n]
 */
function im2colT(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]!, x = p[1]!, N = p[2]!, H = p[3]!, W = p[4]!, C = p[5]!, OH = p[6]!, OW = p[7]!;
  const kw = p[9]!, sh = p[10]!, sw = p[11]!, top = p[12]!, left = p[13]!, b0 = p[14]!, n = p[15]!;
  const plane = H * W;
  const perRow = n * OH * OW;
  // Stride 1 with the output as wide as the input: all valid rows of one (offset, channel, image)
  // are a single shifted run of the input plane.
  const blockCopy = sh === 1 && sw === 1 && OW === W;
  for (let R = from; R < to; R++) {
    const c = R % C;
    const tap = (R - c) / C;
    const kx = tap % kw;
    const ky = (tap - kx) / kw;
    // Output positions o with 0 <= o·stride + offset < size: [oy0, oy1) and [ox0, ox1).
    const offY = ky - top;
    const offX = kx - left;
    const oy0 = Math.min(OH, offY >= 0 ? 0 : Math.ceil(-offY / sh));
    const oy1 = Math.max(oy0, Math.min(OH, Math.floor((H - 1 - offY) / sh) + 1));
    const ox0 = Math.min(OW, offX >= 0 ? 0 : Math.ceil(-offX / sw));
    const ox1 = Math.max(ox0, Math.min(OW, Math.floor((W - 1 - offX) / sw) + 1));
    let dst = out + R * perRow;
    for (let img = b0; img < b0 + n; img++) {
      const src = x + (c * N + img) * plane;
      if (blockCopy) {
        heap.fill(0, dst, dst + oy0 * OW);
        if (oy1 > oy0) {
          const first = src + (oy0 + offY) * W + offX;
          const lo = Math.max(first, src);
          const hi = Math.min(first + (oy1 - oy0) * OW, src + plane);
          heap.copyWithin(dst + oy0 * OW + (lo - first), lo, hi);
          for (let oy = oy0; oy < oy1; oy++) {
            const row = dst + oy * OW;
            for (let ox = 0; ox < ox0; ox++) heap[row + ox] = 0;
            for (let ox = ox1; ox < OW; ox++) heap[row + ox] = 0;
          }
        }
        heap.fill(0, dst + oy1 * OW, dst + OH * OW);
        dst += OH * OW;
        continue;
      }
      for (let oy = 0; oy < OH; oy++) {
        if (oy < oy0 || oy >= oy1) {
          heap.fill(0, dst, dst + OW);
          dst += OW;
          continue;
        }
        const row = src + (oy * sh + offY) * W + offX;
        if (ox0 > 0) heap.fill(0, dst, dst + ox0);
        if (sw === 1 && ox1 - ox0 >= 64) {
          heap.copyWithin(dst + ox0, row + ox0, row + ox1);
        } else {
          // Short rows (a flow's 8×8 maps): an element loop beats a native copy call per row.
          for (let ox = ox0; ox < ox1; ox++) heap[dst + ox] = heap[row + ox * sw]!;
        }
        if (ox1 < OW) heap.fill(0, dst + ox1, dst + OW);
        dst += OW;
      }
    }
  }
}

/**
 * col2im from `dcolsᵀ` [kh·kw·C, N·OH·OW] into dx [N, H, W, C] (zeroed here), summing the kernel
 * offsets in (ky, kx) order. Outer index: the channel c (each owns dx[…, c]).
 * p = [out, cols, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left]
 */
function col2imByChannel(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]!, cols = p[1]!, N = p[2]!, H = p[3]!, W = p[4]!, C = p[5]!, OH = p[6]!, OW = p[7]!;
  const kh = p[8]!, kw = p[9]!, sh = p[10]!, sw = p[11]!, top = p[12]!, left = p[13]!;
  const positions = N * OH * OW;
  const pixels = N * H * W;
  for (let q = 0; q < pixels; q++) for (let c = from; c < to; c++) heap[out + q * C + c] = 0;
  for (let ky = 0; ky < kh; ky++) {
    const offY = ky - top;
    const i0 = Math.min(OH, offY >= 0 ? 0 : Math.ceil(-offY / sh));
    const i1 = Math.max(i0, Math.min(OH, Math.floor((H - 1 - offY) / sh) + 1));
    for (let kx = 0; kx < kw; kx++) {
      const offX = kx - left;
      const j0 = Math.min(OW, offX >= 0 ? 0 : Math.ceil(-offX / sw));
      const j1 = Math.max(j0, Math.min(OW, Math.floor((W - 1 - offX) / sw) + 1));
      for (let c = from; c < to; c++) {
        const row = cols + ((ky * kw + kx) * C + c) * positions;
        for (let n = 0; n < N; n++) {
          for (let i = i0; i < i1; i++) {
            const src = row + (n * OH + i) * OW;
            const dst = out + ((n * H + i * sh + offY) * W + offX) * C + c;
            for (let j = j0; j < j1; j++) heap[dst + j * sw * C] = heap[dst + j * sw * C]! + heap[src + j]!;
          }
        }
      }
    }
  }
}

/**
 * col2im from `dcols` [N·OH·OW, kh·kw·C] into dx [N, H, W, C] (zeroed here), kernel offsets in
 * (ky, kx) order. Outer index: the image n. p = [out, cols, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left]
 */
function col2imByImage(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]!, cols = p[1]!, H = p[3]!, W = p[4]!, C = p[5]!, OH = p[6]!, OW = p[7]!;
  const kh = p[8]!, kw = p[9]!, sh = p[10]!, sw = p[11]!, top = p[12]!, left = p[13]!;
  const overlap = kh > sh || kw > sw;
  const rowLen = kh * kw * C;
  heap.fill(0, out + from * H * W * C, out + to * H * W * C);
  for (let ky = 0; ky < kh; ky++) {
    const offY = ky - top;
    const i0 = Math.min(OH, offY >= 0 ? 0 : Math.ceil(-offY / sh));
    const i1 = Math.max(i0, Math.min(OH, Math.floor((H - 1 - offY) / sh) + 1));
    for (let kx = 0; kx < kw; kx++) {
      const offX = kx - left;
      const j0 = Math.min(OW, offX >= 0 ? 0 : Math.ceil(-offX / sw));
      const j1 = Math.max(j0, Math.min(OW, Math.floor((W - 1 - offX) / sw) + 1));
      const tap = (ky * kw + kx) * C;
      for (let n = from; n < to; n++) {
        for (let i = i0; i < i1; i++) {
          const y = i * sh + offY;
          for (let j = j0; j < j1; j++) {
            const src = cols + ((n * OH + i) * OW + j) * rowLen + tap;
            const dst = out + ((n * H + y) * W + j * sw + offX) * C;
            if (overlap) {
              for (let c = 0; c < C; c++) heap[dst + c] = heap[dst + c]! + heap[src + c]!;
            } else if (C >= 64) {
              heap.copyWithin(dst, src, src + C);
            } else {
              // Few channels (the decoder's last layer has 3): an element loop beats a native copy call.
              for (let c = 0; c < C; c++) heap[dst + c] = heap[src + c]!;
            }
          }
        }
      }
    }
  }
}

/**
 * Sum over the middle axis of x [outer, summed, inner] into [outer, inner] (zeroed here), rows in
 * order (what wasm's own Sum computes, to the bit). Outer index: the column c of `inner`.
 * p = [out, x, outer, summed, inner]
 */
function sumMiddle(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]!, x = p[1]!, outer = p[2]!, summed = p[3]!, inner = p[4]!;
  for (let b = 0; b < outer; b++) {
    const o = out + b * inner;
    for (let c = from; c < to; c++) heap[o + c] = 0;
    let src = x + b * summed * inner;
    for (let r = 0; r < summed; r++, src += inner) {
      for (let c = from; c < to; c++) heap[o + c] = heap[o + c]! + heap[src + c]!;
    }
  }
}

/**
 * The filter rotated 180° with in/out channels swapped, `R[ky, kx, co, ci] = W[kh−1−ky, kw−1−kx, ci, co]`,
 * each tap's [ci, co] transposed in 32 × 32 blocks (element by element the strided side missed the
 * cache on every write). Outer index: the tap ky·kw + kx. p = [out, w, kh, kw, ci, co]
 */
function rotateFilter(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]!, w = p[1]!, kh = p[2]!, kw = p[3]!, ci = p[4]!, co = p[5]!;
  const tile = 32;
  for (let t = from; t < to; t++) {
    const kx = t % kw;
    const ky = (t - kx) / kw;
    const src = w + ((kh - 1 - ky) * kw + (kw - 1 - kx)) * ci * co;
    const dst = out + t * co * ci;
    for (let i0 = 0; i0 < ci; i0 += tile) {
      const i1 = Math.min(ci, i0 + tile);
      for (let o0 = 0; o0 < co; o0 += tile) {
        const o1 = Math.min(co, o0 + tile);
        for (let i = i0; i < i1; i++) {
          const row = src + i * co;
          for (let o = o0; o < o1; o++) heap[dst + o * ci + i] = heap[row + o]!;
        }
      }
    }
  }
}

/**
 * The input gradient of a depthwise convolution (NHWC, filter [kh, kw, C, M]):
 * `dx[n, y, x, c] = Σ_{ky, kx, m} dy[n, oy, ox, c·M + m] · w[ky, kx, c, m]` over the (oy, ox)
 * with `oy·sh + ky − top = y` and `ox·sw + kx − left = x`, terms in (ky, kx, m) order. For each
 * kernel offset the matching dy row is one run of pixels, so the inner loop runs along channels,
 * contiguous in dx, dy and the filter. Outer index: the dx row n·H + y (zeroed here).
 * p = [out, dy, w, H, W, C, M, OH, OW, kh, kw, sh, sw, top, left]
 */
function depthwiseInput(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  // `| 0`: small integers, so that V8 computes the indices in int32 (the parameters arrive as doubles).
  const out = p[0]! | 0, dy = p[1]! | 0, w = p[2]! | 0, H = p[3]! | 0, W = p[4]! | 0, C = p[5]! | 0, M = p[6]! | 0, OH = p[7]! | 0, OW = p[8]! | 0;
  const kh = p[9]! | 0, kw = p[10]! | 0, sh = p[11]! | 0, sw = p[12]! | 0, top = p[13]! | 0, left = p[14]! | 0;
  const CM = C * M;
  for (let r = from; r < to; r++) {
    const y = r % H;
    const n = (r - y) / H;
    const row = out + r * W * C;
    heap.fill(0, row, row + W * C);
    for (let ky = 0; ky < kh; ky++) {
      const t = y + top - ky;
      if (t < 0 || t % sh !== 0 || t / sh >= OH) continue;
      const dyRow = dy + (n * OH + t / sh) * OW * CM;
      for (let kx = 0; kx < kw; kx++) {
        const offX = kx - left;
        // Output columns ox with 0 <= ox·sw + offX < W.
        const ox0 = Math.min(OW, offX >= 0 ? 0 : Math.ceil(-offX / sw));
        const ox1 = Math.max(ox0, Math.min(OW, Math.floor((W - 1 - offX) / sw) + 1));
        const tap = w + (ky * kw + kx) * CM;
        for (let ox = ox0; ox < ox1; ox++) {
          const dst = row + (ox * sw + offX) * C;
          const src = dyRow + ox * CM;
          if (M === 1) {
            for (let c = 0; c < C; c++) heap[dst + c] = heap[dst + c]! + heap[src + c]! * heap[tap + c]!;
          } else {
            for (let c = 0; c < C; c++) {
              let acc = heap[dst + c]!;
              for (let m = 0; m < M; m++) acc += heap[src + c * M + m]! * heap[tap + c * M + m]!;
              heap[dst + c] = acc;
            }
          }
        }
      }
    }
  }
}

/**
 * The filter gradient of a depthwise convolution (NHWC, filter [kh, kw, C, M]):
 * `dw[ky, kx, c, m] = Σ_{n, oy, ox} x[n, oy·sh + ky − top, ox·sw + kx − left, c] · dy[n, oy, ox, c·M + m]`,
 * summed in float64 (up to N·OH·OW terms per weight) and rounded once, in an order that does not
 * depend on the split (multiplier 1: each output row's terms in a register, rows in (n, oy) order).
 * The inner loop runs along the range's channels, contiguous in x and dy. Outer index: the input
 * channel c (each owns dw[…, c, …]). p = [out, x, dy, N, H, W, C, M, OH, OW, kh, kw, sh, sw, top, left]
 */
function depthwiseFilter(heap: Float32Array, p: Float64Array, from: number, to: number): void {
  const out = p[0]! | 0, x = p[1]! | 0, dy = p[2]! | 0, N = p[3]! | 0, H = p[4]! | 0, W = p[5]! | 0, C = p[6]! | 0, M = p[7]! | 0, OH = p[8]! | 0, OW = p[9]! | 0;
  const kh = p[10]! | 0, kw = p[11]! | 0, sh = p[12]! | 0, sw = p[13]! | 0, top = p[14]! | 0, left = p[15]! | 0;
  const CM = C * M;
  const len = to - from;
  // acc[(tap·len + c − from)·M + m]
  const acc = new Float64Array(kh * kw * len * M);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ky = 0; ky < kh; ky++) {
        const y = oy * sh + ky - top;
        if (y < 0 || y >= H) continue;
        const xRow = x + (n * H + y) * W * C;
        const dyRow = dy + (n * OH + oy) * OW * CM;
        for (let kx = 0; kx < kw; kx++) {
          const offX = kx - left;
          const ox0 = Math.min(OW, offX >= 0 ? 0 : Math.ceil(-offX / sw));
          const ox1 = Math.max(ox0, Math.min(OW, Math.floor((W - 1 - offX) / sw) + 1));
          const a = (ky * kw + kx) * len * M - from * M;
          if (M === 1) {
            // One output row's products per channel summed in a register, then added to the
            // accumulator: half the memory operations of updating it per product.
            const xs = xRow + offX * C;
            const stepX = sw * C;
            for (let c = from; c < to; c++) {
              let sum = 0;
              for (let ox = ox0, xi = xs + ox0 * stepX + c, di = dyRow + ox0 * C + c; ox < ox1; ox++, xi += stepX, di += C) sum += heap[xi]! * heap[di]!;
              acc[a + c] = acc[a + c]! + sum;
            }
            continue;
          }
          for (let ox = ox0; ox < ox1; ox++) {
            const xs = xRow + (ox * sw + offX) * C;
            const ds = dyRow + ox * CM;
            for (let c = from; c < to; c++) {
              const v = heap[xs + c]!;
              for (let m = 0; m < M; m++) acc[a + c * M + m] = acc[a + c * M + m]! + v * heap[ds + c * M + m]!;
            }
          }
        }
      }
    }
  }
  for (let tap = 0; tap < kh * kw; tap++) {
    const dst = out + tap * CM + from * M;
    const src = tap * len * M;
    for (let i = 0; i < len * M; i++) heap[dst + i] = acc[src + i]!;
  }
}

export const HEAP_LOOPS = { im2colT, col2imByChannel, col2imByImage, sumMiddle, rotateFilter, depthwiseInput, depthwiseFilter } as const;
export type HeapLoopName = keyof typeof HEAP_LOOPS;
/** Loop ids in a fixed order (what the workers receive). */
export const HEAP_LOOP_NAMES = Object.keys(HEAP_LOOPS) as HeapLoopName[];

/** Source text of the loops, for the workers: `[name, "function …"]`. */
export function heapLoopSources(): [HeapLoopName, string][] {
  return HEAP_LOOP_NAMES.map((name) => [name, HEAP_LOOPS[name].toString()]);
}

/** Runs ranges of a loop on several threads sharing the wasm memory (set up by the Node entry). */
export interface HeapLoopPool {
  /** Threads that run ranges, the caller's included. */
  readonly threads: number;
  /** Runs `name` over [0, count) split into contiguous ranges, one per thread; returns when all are done. */
  run(name: HeapLoopName, params: Float64Array, count: number, heap: Float32Array): void;
  /** Jobs run split so far (for tests). */
  readonly jobs: number;
  /** Indices the worker threads ran, over all jobs (for tests). */
  readonly workerIndices: number;
  /** Stops the workers. */
  close(): void;
}

let pool: HeapLoopPool | undefined;

/** @internal Installs (or removes) the pool the loops run on; `@aeflow/tensor/node` calls it when wasm threads start. */
export function setHeapLoopPool(next: HeapLoopPool | undefined): void {
  pool = next;
}

/** @internal The pool in use, if any (tests). */
export function heapLoopPool(): HeapLoopPool | undefined {
  return pool;
}

/** The threads the heap loops run on (1 without a pool). */
export function heapLoopThreads(): number {
  return pool?.threads ?? 1;
}

/**
 * Below this many floats touched a loop runs on the calling thread: waking the workers costs
 * tens of microseconds, the loop itself a few nanoseconds per float.
 */
const MIN_PARALLEL_FLOATS = 1 << 16;

/** Runs `name` over [0, count), on the pool when there is one and the work (`floats`) is worth it. */
export function runHeapLoop(name: HeapLoopName, heap: Float32Array, params: number[], count: number, floats: number): void {
  const p = Float64Array.from(params);
  if (pool && pool.threads > 1 && count > 1 && floats >= MIN_PARALLEL_FLOATS) pool.run(name, p, count, heap);
  else HEAP_LOOPS[name](heap, p, 0, count);
}
