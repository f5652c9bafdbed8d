import { imageToPng, mapScale, overlayToPng, type FloatImage, type PixelMap } from '@aeflow/report/images';

/** The pictures of a scored image as blob: URLs for <img> elements (the CSP allows blob: images). */
export interface Figures {
  image: string;
  overlay: string;
  reconstruction: string | null;
  /** The map value drawn at full colour (the map's 99.5th percentile, `mapScale` of the report). */
  scale: number;
}

function pngUrl(png: Uint8Array): string {
  return URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
}

/** The image, its heat map over it and the reconstruction, drawn by @aeflow/report as in the run report
 * (its `./images` entry: the PNG code without the report's charting library). */
export async function makeFigures(image: FloatImage, map: PixelMap, reconstruction: FloatImage | null): Promise<Figures> {
  const scale = mapScale(map);
  const [imagePng, overlayPng, reconPng] = await Promise.all([imageToPng(image), overlayToPng(image, map, scale), reconstruction ? imageToPng(reconstruction) : Promise.resolve(null)]);
  return { image: pngUrl(imagePng), overlay: pngUrl(overlayPng), reconstruction: reconPng ? pngUrl(reconPng) : null, scale };
}
