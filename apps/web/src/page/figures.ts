import { imageToPng, mapScale, overlayToPng, type FloatImage, type PixelMap } from '@aeflow/report';

/**
 * The pictures of a scored image, drawn by `@aeflow/report` — the same image, heat map and
 * reconstruction PNGs the CLI's report embeds — as blob: URLs for <img> elements (the page's
 * Content-Security-Policy allows blob: images, which never leave the page).
 */
export interface Figures {
  image: string;
  overlay: string;
  reconstruction: string | null;
  /** The map value drawn at full colour (the map's 99.5th percentile). */
  scale: number;
}

function url(png: Uint8Array): string {
  return URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
}

export async function makeFigures(image: FloatImage, map: PixelMap, reconstruction: FloatImage | null): Promise<Figures> {
  const scale = mapScale(map);
  return {
    image: url(await imageToPng(image)),
    overlay: url(await overlayToPng(image, map, scale)),
    reconstruction: reconstruction ? url(await imageToPng(reconstruction)) : null,
    scale,
  };
}

export function releaseFigures(f: Figures): void {
  URL.revokeObjectURL(f.image);
  URL.revokeObjectURL(f.overlay);
  if (f.reconstruction) URL.revokeObjectURL(f.reconstruction);
}
