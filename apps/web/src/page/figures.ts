// TEMPORARY drawing, until @aeflow/report (issue 15, "workflow") is on main with its browser-safe
// imageToPng / overlayToPng / mapScale: then this file becomes the four lines that call those.
// Same colours and blending as the report (matplotlib's inferno anchors, opacity 0.8·v).

export interface FloatImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}
export interface PixelMap {
  width: number;
  height: number;
  data: Float32Array;
}

/** The pictures of a scored image as blob: URLs for <img> elements (the CSP allows blob: images). */
export interface Figures {
  image: string;
  overlay: string;
  reconstruction: string | null;
  /** The map value drawn at full colour (the map's 99.5th percentile). */
  scale: number;
}

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

function inferno(v: number): [number, number, number] {
  const t = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  const x = t * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const a = INFERNO[i]!;
  const b = INFERNO[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

function mapScale(map: PixelMap): number {
  const values = Float32Array.from(map.data).filter((v) => Number.isFinite(v)).sort();
  if (values.length === 0) return 1;
  const q = values[Math.min(values.length - 1, Math.floor(0.995 * (values.length - 1)))]!;
  return q > 1e-12 ? q : 1e-12;
}

const byte = (v: number) => (Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0);

async function pngUrl(width: number, height: number, pixel: (i: number) => [number, number, number]): Promise<string> {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = pixel(i);
    img.data[4 * i] = r;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = b;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return URL.createObjectURL(await canvas.convertToBlob({ type: 'image/png' }));
}

function imageUrl(image: FloatImage): Promise<string> {
  const { data, channels } = image;
  return pngUrl(image.width, image.height, (i) => (channels === 1 ? [byte(data[i]!), byte(data[i]!), byte(data[i]!)] : [byte(data[3 * i]!), byte(data[3 * i + 1]!), byte(data[3 * i + 2]!)]));
}

export async function makeFigures(image: FloatImage, map: PixelMap, reconstruction: FloatImage | null): Promise<Figures> {
  if (image.width !== map.width || image.height !== map.height) throw new Error(`figures: image is ${image.width}×${image.height} but the map is ${map.width}×${map.height}`);
  const scale = mapScale(map);
  const d = image.data;
  const overlay = await pngUrl(map.width, map.height, (i) => {
    const grey = image.channels === 1 ? d[i]! : 0.299 * d[3 * i]! + 0.587 * d[3 * i + 1]! + 0.114 * d[3 * i + 2]!;
    const g = byte(grey);
    const v = Math.min(1, Math.max(0, map.data[i]! / scale));
    const alpha = Number.isFinite(v) ? 0.8 * v : 0;
    const [r, gg, b] = inferno(v);
    return [Math.round(g * (1 - alpha) + r * alpha), Math.round(g * (1 - alpha) + gg * alpha), Math.round(g * (1 - alpha) + b * alpha)];
  });
  return { image: await imageUrl(image), overlay, reconstruction: reconstruction ? await imageUrl(reconstruction) : null, scale };
}
