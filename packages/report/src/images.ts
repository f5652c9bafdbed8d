import { encode } from 'fast-png';

// PNGs are encoded by fast-png (pure JavaScript, no Node built-in): the report and the heat maps
// can be made in a browser as well as in Node. The PNGs are lossless 8-bit, as sharp made them.

/** An image as the model sees it after decoding: HWC float32 in [0, 1]. */
export interface FloatImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

/** A per-pixel map (HW, one value per pixel), e.g. the residual |x − x′| averaged over channels. */
export interface PixelMap {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * Anchors of matplotlib's "inferno" colour map (perceptually uniform, readable in grey print),
 * at 0, 1/8, …, 1; colours in between are interpolated linearly.
 */
const INFERNO: readonly (readonly [number, number, number])[] = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
];

/** The colour of v ∈ [0, 1] (clamped; NaN is black) in the inferno map. */
export function infernoColour(v: number): [number, number, number] {
  const t = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  const x = t * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const a = INFERNO[i] as readonly [number, number, number];
  const b = INFERNO[i + 1] as readonly [number, number, number];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

function toByte(v: number): number {
  if (!Number.isFinite(v)) return 0;
  return Math.round(Math.min(1, Math.max(0, v)) * 255);
}

/** 8-bit PNG bytes of a [0, 1] float image (values outside are clamped). */
export function imageToPng(image: FloatImage): Promise<Uint8Array> {
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) {
    return Promise.reject(new Error(`imageToPng: data has ${data.length} values, expected ${width}×${height}×${channels} = ${width * height * channels}`));
  }
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) bytes[i] = toByte(data[i] as number);
  return Promise.resolve(encode({ width, height, data: bytes, channels, depth: 8 }));
}

/**
 * The value that maps to the top of the colour scale: the 99.5th percentile of the map's values
 * (a few extreme pixels do not wash out the rest); at least a tiny positive number.
 */
export function mapScale(map: PixelMap): number {
  const values = Float32Array.from(map.data).filter((v) => Number.isFinite(v)).sort();
  if (values.length === 0) return 1;
  const q = values[Math.min(values.length - 1, Math.floor(0.995 * (values.length - 1)))] as number;
  return q > 1e-12 ? q : 1e-12;
}

/** RGB PNG of a map in the inferno colours, 0 → black and `scale` (default: `mapScale`) → white-yellow. */
export function mapToPng(map: PixelMap, scale = mapScale(map)): Promise<Uint8Array> {
  const { width, height, data } = map;
  if (data.length !== width * height) {
    return Promise.reject(new Error(`mapToPng: map has ${data.length} values, expected ${width}×${height} = ${width * height}`));
  }
  const bytes = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    const [r, g, b] = infernoColour((data[i] as number) / scale);
    bytes[3 * i] = r;
    bytes[3 * i + 1] = g;
    bytes[3 * i + 2] = b;
  }
  return Promise.resolve(encode({ width, height, data: bytes, channels: 3, depth: 8 }));
}

/**
 * The heat map over the image: the original in grey, with the coloured map blended in where the
 * map is high (opacity grows with the value), so that where the image differs stands out in place.
 */
export function overlayToPng(image: FloatImage, map: PixelMap, scale = mapScale(map)): Promise<Uint8Array> {
  if (image.width !== map.width || image.height !== map.height) {
    return Promise.reject(new Error(`overlayToPng: image is ${image.width}×${image.height} but the map is ${map.width}×${map.height}`));
  }
  const n = map.width * map.height;
  const bytes = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    let grey: number;
    if (image.channels === 1) grey = image.data[i] as number;
    else grey = 0.299 * (image.data[3 * i] as number) + 0.587 * (image.data[3 * i + 1] as number) + 0.114 * (image.data[3 * i + 2] as number);
    const g = toByte(grey);
    const v = Math.min(1, Math.max(0, (map.data[i] as number) / scale));
    const alpha = Number.isFinite(v) ? 0.8 * v : 0;
    const [r, gg, b] = infernoColour(v);
    bytes[3 * i] = Math.round(g * (1 - alpha) + r * alpha);
    bytes[3 * i + 1] = Math.round(g * (1 - alpha) + gg * alpha);
    bytes[3 * i + 2] = Math.round(g * (1 - alpha) + b * alpha);
  }
  return Promise.resolve(encode({ width: map.width, height: map.height, data: bytes, channels: 3, depth: 8 }));
}

/** `data:image/png;base64,…` for embedding a PNG in one HTML file. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${base64(png)}`;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** RFC 4648 base64 of bytes, without Node's Buffer (so the report renders in a browser too). */
export function base64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + (i + 1 < bytes.length ? BASE64[(n >> 6) & 63]! : '=') + '=';
  }
  return out;
}
