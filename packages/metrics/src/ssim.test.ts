import { describe, expect, it } from 'vitest';
import { readGolden, TestRandom, type SsimCase } from '../test/helpers.js';
import { ssim, ssimMap } from './ssim.js';
import { MetricInputError } from './validate.js';

const golden = readGolden<SsimCase>('ssim.json');

function randomImage(random: TestRandom, length: number): Float64Array {
  return Float64Array.from({ length }, () => random.next());
}

describe('ssim', () => {
  it('uses the convention the golden file was made with', () => {
    expect(golden.source).toBe('scikit-image 0.19.3');
    expect(golden.convention).toMatch(/HWC/);
    expect(golden.convention).toMatch(/11x11, sigma 1.5, K1 0.01, K2 0.03, data_range 1, population covariance/);
    expect(golden.convention).toMatch(/valid region \(5-pixel border cropped\), averaged over channels/);
  });

  it.each(golden.cases.map((c) => [`${c.height}×${c.width}×${c.channels}`, c] as const))(
    'matches scikit-image structural_similarity within 1e-6 (%s)',
    (_name, c) => {
      const shape = { width: c.width, height: c.height, channels: c.channels, dataRange: 1 };
      expect(Math.abs(ssim(c.a, c.b, shape) - c.ssim)).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(ssim(Float64Array.from(c.a), Float32Array.from(c.b), shape) - c.ssim)).toBeLessThanOrEqual(1e-6);
    },
  );

  it('is 1 for identical images and symmetric in its arguments', () => {
    const random = new TestRandom(1);
    const shape = { width: 20, height: 17, channels: 3, dataRange: 1 };
    const a = randomImage(random, 20 * 17 * 3);
    const b = a.map((v) => Math.min(1, v + 0.1 * random.next()));
    expect(ssim(a, a, shape)).toBeCloseTo(1, 15);
    expect(ssim(a, b, shape)).toBeLessThan(1);
    expect(ssim(a, b, shape)).toBeCloseTo(ssim(b, a, shape), 14);
  });

  it('scales with dataRange: 8-bit images with range 255 equal [0,1] images with range 1', () => {
    const random = new TestRandom(2);
    const bytesA = Uint8Array.from({ length: 16 * 16 }, () => random.int(256));
    const bytesB = bytesA.map((v) => Math.max(0, Math.min(255, v + random.int(41) - 20)));
    const shape = { width: 16, height: 16, channels: 1 };
    const asBytes = ssim(bytesA, bytesB, { ...shape, dataRange: 255 });
    const asUnit = ssim(Float64Array.from(bytesA, (v) => v / 255), Float64Array.from(bytesB, (v) => v / 255), { ...shape, dataRange: 1 });
    expect(asBytes).toBeCloseTo(asUnit, 12);
  });

  it('rejects mismatched, too small or invalid images with errors that name the fix', () => {
    const shape = { width: 12, height: 12, channels: 1, dataRange: 1 };
    const a = new Float64Array(144);
    expect(() => ssim(a, new Float64Array(143), shape)).toThrow(MetricInputError);
    expect(() => ssim(a, new Float64Array(143), shape)).toThrow(/image b has 143 values but 12×12×1 \(height×width×channels\) needs 144/);
    expect(() => ssim(new Float64Array(100), new Float64Array(100), { ...shape, width: 10, height: 10 })).toThrow(
      /the image is 10×10 \(height×width\), smaller than the 11×11 Gaussian window/,
    );
    expect(() => ssim(a, a, { ...shape, dataRange: 0 })).toThrow(/options.dataRange is 0/);
    expect(() => ssim(a, a, { width: 12, height: 12, channels: 1 } as never)).toThrow(/options.dataRange is undefined/);
    expect(() => ssim(a, a, { ...shape, channels: 1.5 })).toThrow(/options.channels is 1.5; pass the image channels as a positive integer/);
    const withNaN = new Float64Array(144);
    withNaN[13] = NaN;
    expect(() => ssim(a, withNaN, shape)).toThrow(/image b has NaN at row 1, column 1, channel 0/);
  });
});

describe('ssimMap', () => {
  it.each(golden.cases.map((c) => [`${c.height}×${c.width}×${c.channels}`, c] as const))(
    'matches scikit-image at the centre pixel (mean over channels) and averages to ssim on the valid region (%s)',
    (_name, c) => {
      const shape = { width: c.width, height: c.height, channels: c.channels, dataRange: 1 };
      const map = ssimMap(c.a, c.b, shape);
      expect(map.length).toBe(c.width * c.height);
      const centre = map[Math.floor(c.height / 2) * c.width + Math.floor(c.width / 2)]!;
      expect(Math.abs(centre - c.ssim_map_center)).toBeLessThanOrEqual(1e-6);
      let sum = 0;
      let count = 0;
      for (let r = 5; r < c.height - 5; r++) {
        for (let col = 5; col < c.width - 5; col++) {
          sum += map[r * c.width + col]!;
          count++;
        }
      }
      expect(Math.abs(sum / count - c.ssim)).toBeLessThanOrEqual(1e-6);
    },
  );

  it('gives per-channel maps in HWC order whose channel mean is the default map', () => {
    const c = golden.cases.find((g) => g.channels === 3)!;
    const shape = { width: c.width, height: c.height, channels: 3, dataRange: 1 };
    const perChannel = ssimMap(c.a, c.b, { ...shape, perChannel: true });
    const mean = ssimMap(c.a, c.b, shape);
    expect(perChannel.length).toBe(c.width * c.height * 3);
    for (let p = 0; p < mean.length; p++) {
      expect(perChannel[3 * p]! + perChannel[3 * p + 1]! + perChannel[3 * p + 2]!).toBeCloseTo(3 * mean[p]!, 12);
    }
    // Each channel alone is a single-channel SSIM map of that channel.
    const green = (image: number[]) => image.filter((_, i) => i % 3 === 1);
    const single = ssimMap(green(c.a), green(c.b), { ...shape, channels: 1 });
    for (let p = 0; p < single.length; p++) expect(perChannel[3 * p + 1]).toBeCloseTo(single[p]!, 14);
  });

  it('equals a direct 11×11 windowed computation on the half-sample-reflected image, borders included', () => {
    // Independent of the separable implementation: explicit 2-D weights and explicit padding with
    // scipy's 'reflect' (… c b a | a b c …), which scikit-image's full map uses.
    const random = new TestRandom(6);
    const width = 14;
    const height = 12;
    const a = randomImage(random, width * height);
    const b = a.map((v) => 0.7 * v + 0.3 * random.next());
    const g = Array.from({ length: 11 }, (_, k) => Math.exp(-((k - 5) ** 2) / (2 * 1.5 * 1.5)));
    const gSum = g.reduce((s, v) => s + v, 0);
    const reflect = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
    const map = ssimMap(a, b, { width, height, channels: 1, dataRange: 1 });
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        let mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
        for (let dr = -5; dr <= 5; dr++) {
          for (let dc = -5; dc <= 5; dc++) {
            const w = (g[dr + 5]! * g[dc + 5]!) / (gSum * gSum);
            const k = reflect(r + dr, height) * width + reflect(c + dc, width);
            mx += w * a[k]!;
            my += w * b[k]!;
            sxx += w * a[k]! * a[k]!;
            syy += w * b[k]! * b[k]!;
            sxy += w * a[k]! * b[k]!;
          }
        }
        const c1 = 0.01 ** 2;
        const c2 = 0.03 ** 2;
        const expected =
          ((2 * mx * my + c1) * (2 * (sxy - mx * my) + c2)) / ((mx * mx + my * my + c1) * (sxx - mx * mx + syy - my * my + c2));
        expect(map[r * width + c]).toBeCloseTo(expected, 12);
      }
    }
  });

  it('a mirrored image gives the mirrored map', () => {
    const random = new TestRandom(4);
    const width = 15;
    const height = 13;
    const a = randomImage(random, width * height);
    const b = a.map((v) => v * 0.8 + 0.2 * random.next());
    const flip = (image: ArrayLike<number>) => Float64Array.from({ length: width * height }, (_, k) => image[Math.floor(k / width) * width + (width - 1 - (k % width))]!);
    const shape = { width, height, channels: 1, dataRange: 1 };
    const map = ssimMap(a, b, shape);
    const flipped = ssimMap(flip(a), flip(b), shape);
    const expected = flip(map);
    for (let k = 0; k < map.length; k++) expect(flipped[k]).toBeCloseTo(expected[k]!, 14);
    // Identical images: 1 everywhere, border included.
    for (const v of ssimMap(a, a, shape)) expect(v).toBeCloseTo(1, 14);
  });
});
