import { MetricInputError, type NumericArray } from './validate.js';

/** An image stored as a flat HWC array: pixel (row, column), channel c at `(row·width + column)·channels + c`. */
export interface ImageShape {
  width: number;
  height: number;
  channels: number;
}

export interface SsimOptions extends ImageShape {
  /**
   * The span of possible pixel values (max − min): 1 for images in [0, 1], 255 for 8-bit images.
   * It sets the stabilising constants C1 = (0.01·dataRange)², C2 = (0.03·dataRange)²; required,
   * because guessing it from the data changes the result.
   */
  dataRange: number;
}

export interface SsimMapOptions extends SsimOptions {
  /**
   * false (default): one value per pixel, the mean over channels (H·W values, row-major).
   * true: one value per pixel and channel, HWC like the inputs (H·W·C values).
   */
  perChannel?: boolean;
}

/** Gaussian window 11×11, σ 1.5 (Wang et al. 2004), as scipy's gaussian_filter with truncate 3.5. */
const SIGMA = 1.5;
const RADIUS = 5; // int(3.5·σ + 0.5)
const WINDOW = 2 * RADIUS + 1;
const K1 = 0.01;
const K2 = 0.03;

const KERNEL: readonly number[] = (() => {
  const weights: number[] = [];
  let sum = 0;
  for (let k = -RADIUS; k <= RADIUS; k++) {
    const w = Math.exp((-0.5 * k * k) / (SIGMA * SIGMA));
    weights.push(w);
    sum += w;
  }
  return weights.map((w) => w / sum);
})();
// The kernel is symmetric: W0 is the weight at distance 5 from the centre, W5 the centre's. Plain
// module constants keep the inner loops free of array reads.
const W0 = KERNEL[0] as number;
const W1 = KERNEL[1] as number;
const W2 = KERNEL[2] as number;
const W3 = KERNEL[3] as number;
const W4 = KERNEL[4] as number;
const W5 = KERNEL[5] as number;

function checkImages(fn: string, a: NumericArray, b: NumericArray, shape: ImageShape): void {
  for (const field of ['width', 'height', 'channels'] as const) {
    const value = (shape as unknown as Record<string, unknown> | undefined)?.[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new MetricInputError(`${fn}: options.${field} is ${String(value)}; pass the image ${field} as a positive integer.`);
    }
  }
  const { width, height, channels } = shape;
  const expected = width * height * channels;
  for (const [name, image] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (image === null || typeof image !== 'object' || typeof image.length !== 'number') {
      throw new MetricInputError(`${fn}: image ${name} must be an array or typed array of pixel values (HWC).`);
    }
    if (image.length !== expected) {
      throw new MetricInputError(
        `${fn}: image ${name} has ${image.length} values but ${height}×${width}×${channels} (height×width×channels) needs ${expected}; ` +
          'check the shape you passed and that the image is HWC without padding or alpha.',
      );
    }
    for (let i = 0; i < image.length; i++) {
      const v = image[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        const pixel = Math.floor(i / channels);
        throw new MetricInputError(
          `${fn}: image ${name} has ${String(v)} at row ${Math.floor(pixel / width)}, column ${pixel % width}, channel ${i % channels}; pixel values must be finite numbers.`,
        );
      }
    }
  }
}

function checkDataRange(fn: string, dataRange: unknown): asserts dataRange is number {
  if (typeof dataRange !== 'number' || !Number.isFinite(dataRange) || dataRange <= 0) {
    throw new MetricInputError(
      `${fn}: options.dataRange is ${String(dataRange)}; pass the span of possible pixel values (1 for [0, 1] images, 255 for 8-bit).`,
    );
  }
}

function checkWindowFits(fn: string, shape: ImageShape): void {
  if (shape.width < WINDOW || shape.height < WINDOW) {
    throw new MetricInputError(
      `${fn}: the image is ${shape.height}×${shape.width} (height×width), smaller than the ${WINDOW}×${WINDOW} Gaussian window; ` +
        `SSIM needs at least ${WINDOW} pixels in each direction — compare larger images or upsample them first.`,
    );
  }
}

/** Source index for each index of the padded axis: scipy's 'reflect' (d c b a | a b c d | d c b a). */
function reflectIndex(size: number, pad: number): Int32Array {
  const index = new Int32Array(size + 2 * pad);
  for (let k = 0; k < index.length; k++) {
    let i = k - pad;
    if (i < 0) i = -i - 1;
    else if (i >= size) i = 2 * size - i - 1;
    index[k] = i;
  }
  return index;
}

function identityIndex(size: number): Int32Array {
  const index = new Int32Array(size);
  for (let k = 0; k < size; k++) index[k] = k;
  return index;
}

/**
 * Buffers for one channel at a time: the five planes x, y, x², y², xy (rows × cols), their
 * horizontal filtering (rows × outCols), reused across channels.
 */
class SsimWorkspace {
  readonly planes: Float64Array[];
  readonly filtered: Float64Array[];
  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {
    const outCols = cols - 2 * RADIUS;
    this.planes = Array.from({ length: 5 }, () => new Float64Array(rows * cols));
    this.filtered = Array.from({ length: 5 }, () => new Float64Array(rows * outCols));
  }
}

/** 1-D Gaussian along rows, using the kernel's symmetry (6 multiplications per output, not 11). */
function filterRows(src: Float64Array, dst: Float64Array, rows: number, cols: number): void {
  const outCols = cols - 2 * RADIUS;
  for (let r = 0; r < rows; r++) {
    const s = r * cols;
    const d = r * outCols;
    for (let j = 0; j < outCols; j++) {
      const i = s + j;
      dst[d + j] =
        W5 * (src[i + 5] as number) +
        W4 * ((src[i + 4] as number) + (src[i + 6] as number)) +
        W3 * ((src[i + 3] as number) + (src[i + 7] as number)) +
        W2 * ((src[i + 2] as number) + (src[i + 8] as number)) +
        W1 * ((src[i + 1] as number) + (src[i + 9] as number)) +
        W0 * ((src[i] as number) + (src[i + 10] as number));
    }
  }
}

/** The same Gaussian down the columns: (rows − 10) × cols outputs from rows × cols inputs. */
function filterColumns(src: Float64Array, dst: Float64Array, rows: number, cols: number): void {
  const outRows = rows - 2 * RADIUS;
  const s = cols;
  for (let r = 0; r < outRows; r++) {
    const d = r * cols;
    for (let j = 0; j < cols; j++) {
      const i = d + j;
      dst[i] =
        W5 * (src[i + 5 * s] as number) +
        W4 * ((src[i + 4 * s] as number) + (src[i + 6 * s] as number)) +
        W3 * ((src[i + 3 * s] as number) + (src[i + 7 * s] as number)) +
        W2 * ((src[i + 2 * s] as number) + (src[i + 8 * s] as number)) +
        W1 * ((src[i + s] as number) + (src[i + 9 * s] as number)) +
        W0 * ((src[i] as number) + (src[i + 10 * s] as number));
    }
  }
}

/**
 * SSIM of one channel on the (rows − 10) × (cols − 10) positions where the window lies inside the
 * given planes; `rowIndex`/`colIndex` map plane coordinates to image coordinates (identity for the
 * valid region, reflected for a full-size map). Adds `value · outScale` to
 * `out[position · outStride + outOffset]`, so channels can be averaged or interleaved in place.
 */
function ssimChannel(
  a: NumericArray,
  b: NumericArray,
  shape: ImageShape,
  channel: number,
  rowIndex: Int32Array,
  colIndex: Int32Array,
  dataRange: number,
  work: SsimWorkspace,
  out: Float64Array,
  outStride: number,
  outOffset: number,
  outScale: number,
): void {
  const { rows, cols } = work;
  const [x, y, xx, yy, xy] = work.planes as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const { width, channels } = shape;
  for (let r = 0; r < rows; r++) {
    const sourceRow = (rowIndex[r] as number) * width;
    for (let c = 0; c < cols; c++) {
      const source = (sourceRow + (colIndex[c] as number)) * channels + channel;
      const u = a[source] as number;
      const v = b[source] as number;
      const k = r * cols + c;
      x[k] = u;
      y[k] = v;
      xx[k] = u * u;
      yy[k] = v * v;
      xy[k] = u * v;
    }
  }
  const outCols = cols - 2 * RADIUS;
  for (let p = 0; p < 5; p++) {
    filterRows(work.planes[p] as Float64Array, work.filtered[p] as Float64Array, rows, cols);
    // The filtered result goes back into the (now unused) plane buffer.
    filterColumns(work.filtered[p] as Float64Array, work.planes[p] as Float64Array, rows, outCols);
  }
  const outSize = (rows - 2 * RADIUS) * outCols;
  const c1 = (K1 * dataRange) ** 2;
  const c2 = (K2 * dataRange) ** 2;
  for (let k = 0; k < outSize; k++) {
    const mx = x[k] as number;
    const my = y[k] as number;
    // Population (co)variances from the weighted moments, as scikit-image with
    // use_sample_covariance=False.
    const vx = (xx[k] as number) - mx * mx;
    const vy = (yy[k] as number) - my * my;
    const vxy = (xy[k] as number) - mx * my;
    const s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    const o = k * outStride + outOffset;
    out[o] = (out[o] as number) + s * outScale;
  }
}

/**
 * Structural similarity of two images (Wang et al. 2004) as scikit-image 0.19
 * `structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 * data_range=dataRange, channel_axis=-1)`: Gaussian 11×11 window, σ 1.5, K1 0.01, K2 0.03,
 * the mean over the valid region (the 5-pixel border where the window would leave the image is
 * excluded), averaged over channels. 1 for identical images.
 */
export function ssim(a: NumericArray, b: NumericArray, options: SsimOptions): number {
  checkImages('ssim', a, b, options);
  checkDataRange('ssim', options.dataRange);
  checkWindowFits('ssim', options);
  const { width, height, channels } = options;
  const work = new SsimWorkspace(height, width);
  const outRows = height - 2 * RADIUS;
  const outCols = width - 2 * RADIUS;
  const map = new Float64Array(outRows * outCols);
  const rowIndex = identityIndex(height);
  const colIndex = identityIndex(width);
  for (let c = 0; c < channels; c++) {
    ssimChannel(a, b, options, c, rowIndex, colIndex, options.dataRange, work, map, 1, 0, 1 / channels);
  }
  let sum = 0;
  for (let k = 0; k < map.length; k++) sum += map[k] as number;
  return sum / map.length;
}

/**
 * The SSIM map, the same size as the images (H·W values, the mean over channels, row-major; or
 * H·W·C in HWC order with `perChannel: true`) — where two images differ structurally. Pixels within
 * 5 of the border use a window reflected at the edge (scipy's 'reflect', as scikit-image's
 * `full=True`); `ssim` averages only the interior, where no reflection is involved.
 */
export function ssimMap(a: NumericArray, b: NumericArray, options: SsimMapOptions): Float64Array {
  checkImages('ssimMap', a, b, options);
  checkDataRange('ssimMap', options.dataRange);
  checkWindowFits('ssimMap', options);
  const { width, height, channels } = options;
  const perChannel = options.perChannel === true;
  const work = new SsimWorkspace(height + 2 * RADIUS, width + 2 * RADIUS);
  const map = new Float64Array(width * height * (perChannel ? channels : 1));
  const rowIndex = reflectIndex(height, RADIUS);
  const colIndex = reflectIndex(width, RADIUS);
  for (let c = 0; c < channels; c++) {
    if (perChannel) ssimChannel(a, b, options, c, rowIndex, colIndex, options.dataRange, work, map, channels, c, 1);
    else ssimChannel(a, b, options, c, rowIndex, colIndex, options.dataRange, work, map, 1, 0, 1 / channels);
  }
  return map;
}
