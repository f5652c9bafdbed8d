import { MetricInputError, type NumericArray } from './validate.js';

function checkPair(fn: string, a: NumericArray, b: NumericArray): void {
  for (const [name, image] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (image === null || typeof image !== 'object' || typeof image.length !== 'number') {
      throw new MetricInputError(`${fn}: ${name} must be an array or typed array of pixel values.`);
    }
  }
  if (a.length !== b.length) {
    throw new MetricInputError(`${fn}: a has ${a.length} values but b has ${b.length}; compare images of the same size and layout.`);
  }
  if (a.length === 0) throw new MetricInputError(`${fn}: the images are empty; pass at least one pixel value.`);
}

/** Mean squared error Σ(a − b)² / n, over every value (all pixels and channels), in float64. */
export function mse(a: NumericArray, b: NumericArray): number {
  checkPair('mse', a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    sum += d * d;
  }
  if (!Number.isFinite(sum)) {
    throw new MetricInputError('mse: the images contain NaN or infinite values; pixel values must be finite numbers.');
  }
  return sum / a.length;
}

/**
 * Peak signal-to-noise ratio 10·log10(dataRange² / mse) in dB, as scikit-image's
 * `peak_signal_noise_ratio(a, b, data_range=dataRange)`; +Infinity for identical images.
 */
export function psnr(a: NumericArray, b: NumericArray, options: { dataRange: number }): number {
  const dataRange = options?.dataRange;
  if (typeof dataRange !== 'number' || !Number.isFinite(dataRange) || dataRange <= 0) {
    throw new MetricInputError(
      `psnr: options.dataRange is ${String(dataRange)}; pass the span of possible pixel values (1 for [0, 1] images, 255 for 8-bit).`,
    );
  }
  const error = mse(a, b);
  return 10 * Math.log10((dataRange * dataRange) / error);
}
