import * as dicomParserModule from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import { checkPixelLimit, type Raster } from './raster.js';
import { messageOf, type InvalidImageCode } from './errors.js';
import { decodeRle } from './dicom-rle.js';

// dicom-parser is a UMD bundle: under Node's ESM loader its functions sit on `default`.
const dicomParser = ((dicomParserModule as unknown as { default?: typeof dicomParserModule }).default ?? dicomParserModule);

/** Thrown for DICOM data that cannot be turned into an image; the caller adds the path. */
export class DicomError extends Error {
  constructor(
    message: string,
    readonly code: InvalidImageCode = 'invalid',
  ) {
    super(message);
  }
}

/** Transfer syntaxes, by UID. */
export const TRANSFER_SYNTAX = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  explicitBig: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSv1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

const UNCOMPRESSED = new Set<string>([TRANSFER_SYNTAX.implicitLittle, TRANSFER_SYNTAX.explicitLittle, TRANSFER_SYNTAX.explicitBig]);

/** Names of the transfer syntaxes that carry compressed pixel data (for messages). */
const COMPRESSED_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

/** Which codec a compressed transfer syntax needs (RLE is decoded here, without one). */
export type DicomCodecName = 'jpeg' | 'jpegLossless' | 'jpegLs' | 'jpeg2000';

const CODEC_OF: Record<string, DicomCodecName> = {
  [TRANSFER_SYNTAX.jpegBaseline]: 'jpeg',
  [TRANSFER_SYNTAX.jpegExtended]: 'jpeg',
  [TRANSFER_SYNTAX.jpegLossless]: 'jpegLossless',
  [TRANSFER_SYNTAX.jpegLosslessSv1]: 'jpegLossless',
  [TRANSFER_SYNTAX.jpegLsLossless]: 'jpegLs',
  [TRANSFER_SYNTAX.jpegLsNearLossless]: 'jpegLs',
  [TRANSFER_SYNTAX.jpeg2000Lossless]: 'jpeg2000',
  [TRANSFER_SYNTAX.jpeg2000]: 'jpeg2000',
};

/** One decoded frame as a codec hands it back: samples interleaved (RGB RGB …), one per array element. */
export interface DecodedFrame {
  width: number;
  height: number;
  /** Samples per pixel (1 or 3). */
  components: number;
  samples: Uint8Array | Uint16Array | Int16Array;
}

/** Decodes one compressed frame (the bytes of the frame's fragments). */
export type DicomFrameDecoder = (encoded: Uint8Array) => DecodedFrame;

/**
 * Codecs for the compressed transfer syntaxes, each loaded on first use (wasm is large: nothing is
 * fetched until a file needs it). `@aeflow/datasets/dicom-codecs` has the Cornerstone ones.
 */
export type DicomCodecs = Partial<Record<DicomCodecName, () => Promise<DicomFrameDecoder>>>;

export interface DecodeDicomOptions {
  /** Pixel limit (checked from the header, before any pixel is decoded). */
  maxPixels: number;
  /** The bytes have no Part 10 header ("DICM"): read them as an Implicit VR Little Endian data set. */
  assumeRawDataset?: boolean;
  /** Codecs for JPEG, JPEG lossless, JPEG-LS and JPEG 2000 pixel data (RLE needs none). */
  codecs?: DicomCodecs;
}

/** DICOM's linear VOI LUT (PS3.3 C.11.2.1.2.1): maps a modality value to [0, 1] through a window. */
export function applyWindow(x: number, center: number, width: number): number {
  if (width <= 1) return x < center ? 0 : 1;
  const lo = center - 0.5 - (width - 1) / 2;
  const hi = center - 0.5 + (width - 1) / 2;
  if (x <= lo) return 0;
  if (x > hi) return 1;
  return (x - (center - 0.5)) / (width - 1) + 0.5;
}

/** What the header says about the image (after the checks every path shares). */
interface ImageHeader {
  ds: DataSet;
  syntax: string;
  rows: number;
  cols: number;
  spp: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  photometric: string;
  planar: number;
  pixel: Element;
}

const PHOTOMETRIC_RGB = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT']);

function readHeader(bytes: Uint8Array, maxPixels: number, assumeRawDataset: boolean): ImageHeader {
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, assumeRawDataset ? { TransferSyntaxUID: TRANSFER_SYNTAX.implicitLittle } : undefined);
  } catch (err) {
    // dicom-parser throws { exception, dataSet } objects as well as errors and strings
    const inner = (err as { exception?: unknown }).exception ?? err;
    throw new DicomError(`unreadable DICOM (${messageOf(inner).replace(/^dicomParser\.\w+: /, '')})`);
  }
  const syntax = ds.string('x00020010') ?? TRANSFER_SYNTAX.implicitLittle;
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  const pixel = ds.elements.x7fe00010;
  if (!rows || !cols || !pixel) {
    // Without the "DICM" marker the bytes were only guessed to be a raw data set (by the file name):
    // nothing image-like in them means they are not DICOM at all.
    if (assumeRawDataset && !rows && !cols && !pixel) throw new DicomError('not a DICOM file (no "DICM" marker, and no Rows, Columns or Pixel Data when read as a raw data set)');
    throw new DicomError('DICOM has no image (Rows, Columns or Pixel Data missing)', 'no-image');
  }
  const limit = checkPixelLimit(cols, rows, maxPixels);
  if (limit) throw new DicomError(limit, 'too-large');
  const spp = ds.uint16('x00280002') ?? 1;
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const photometric = (ds.string('x00280004') ?? (spp === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase();
  const planar = ds.uint16('x00280006') ?? 0;
  if (spp !== 1 && spp !== 3) throw new DicomError(`DICOM with ${spp} samples per pixel is not supported`, 'unsupported');
  if (spp === 3 && !PHOTOMETRIC_RGB.has(photometric)) throw new DicomError(`DICOM photometric interpretation ${photometric} is not supported (MONOCHROME1/2, RGB and YBR are)`, 'unsupported');
  if (spp === 1 && photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    throw new DicomError(`DICOM photometric interpretation ${photometric} is not supported (MONOCHROME1/2, RGB and YBR are)`, 'unsupported');
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) throw new DicomError(`DICOM with ${bitsAllocated} bits allocated is not supported (8, 16 and 32 are)`, 'unsupported');
  return { ds, syntax, rows, cols, spp, bitsAllocated, bitsStored, signed, photometric, planar, pixel };
}

function syntaxName(syntax: string): string {
  return COMPRESSED_NAMES[syntax] ?? 'an unknown transfer syntax';
}

/** The stored values of an uncompressed first frame, in file order. */
function uncompressedSamples(bytes: Uint8Array, h: ImageHeader): Float32Array {
  const bytesPer = h.bitsAllocated / 8;
  const n = h.rows * h.cols * h.spp;
  const { pixel } = h;
  if (pixel.dataOffset + n * bytesPer > bytes.length || pixel.length < n * bytesPer) {
    throw new DicomError(`truncated DICOM pixel data: ${h.rows}×${h.cols}×${h.spp} at ${h.bitsAllocated} bits needs ${n * bytesPer} bytes, the element holds ${Math.min(pixel.length, bytes.length - pixel.dataOffset)}`);
  }
  const littleEndian = h.syntax !== TRANSFER_SYNTAX.explicitBig;
  const view = new DataView(bytes.buffer, bytes.byteOffset + pixel.dataOffset, n * bytesPer);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = bytesPer === 1 ? view.getUint8(i) : bytesPer === 2 ? view.getUint16(2 * i, littleEndian) : view.getUint32(4 * i, littleEndian);
  return values;
}

/** The bytes of the first frame of encapsulated (compressed) pixel data. */
function firstFrameBytes(h: ImageHeader): Uint8Array {
  const { ds, pixel } = h;
  if (!pixel.encapsulatedPixelData || !pixel.fragments || pixel.fragments.length === 0) {
    throw new DicomError(`DICOM pixel data is not encapsulated, but the transfer syntax ${syntaxName(h.syntax)} (${h.syntax}) says it is compressed`);
  }
  const frames = Number.parseInt(ds.string('x00280008') ?? '1', 10) || 1;
  try {
    if (pixel.basicOffsetTable && pixel.basicOffsetTable.length > 0) return dicomParser.readEncapsulatedImageFrame(ds, pixel, 0);
    if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments.length);
    if (pixel.fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, 1);
    if (CODEC_OF[h.syntax] === 'jpeg' || CODEC_OF[h.syntax] === 'jpegLossless') return dicomParser.readEncapsulatedImageFrame(ds, pixel, 0, dicomParser.createJPEGBasicOffsetTable(ds, pixel));
  } catch (err) {
    const inner = (err as { exception?: unknown }).exception ?? err;
    throw new DicomError(`unreadable DICOM pixel data fragments (${messageOf(inner).replace(/^dicomParser\.\w+: /, '')})`);
  }
  throw new DicomError(`DICOM with ${frames} frames in ${pixel.fragments.length} fragments and no offset table: cannot tell where the first frame ends`, 'unsupported');
}

/** Checks a codec's frame against the header and returns its samples as numbers. */
function frameSamples(frame: DecodedFrame, h: ImageHeader): ArrayLike<number> {
  const name = syntaxName(h.syntax);
  if (frame.width !== h.cols || frame.height !== h.rows) {
    throw new DicomError(`corrupt ${name} pixel data: the frame decodes to ${frame.width}×${frame.height}, the header says ${h.cols}×${h.rows}`);
  }
  if (frame.components !== h.spp) throw new DicomError(`corrupt ${name} pixel data: the frame has ${frame.components} components, the header says ${h.spp} samples per pixel`);
  if (frame.samples.length < h.rows * h.cols * h.spp) throw new DicomError(`corrupt ${name} pixel data: the frame decoded to ${frame.samples.length} samples, ${h.rows * h.cols * h.spp} expected`);
  return frame.samples;
}

/**
 * Stored values → [0, 1]: masked to Bits Stored and sign-extended (Pixel Representation), then for
 * gray rescale slope/intercept (modality LUT) → window centre/width when the file has one (VOI LUT),
 * else min–max over the frame → MONOCHROME1 inverted, so bright means dense everywhere; colour is
 * scaled from its bit depth. `layout.planar`: colour samples are RRR…GGG…BBB (else RGBRGB…);
 * `layout.ybr`: they are YCbCr (YBR_FULL) and converted to RGB.
 */
function toRaster(stored: ArrayLike<number>, h: ImageHeader, layout: { planar: boolean; ybr: boolean }): Raster {
  const n = h.rows * h.cols * h.spp;
  const values = new Float32Array(n);
  const mask = h.bitsStored >= 32 ? 0xffffffff : 2 ** h.bitsStored - 1;
  const signBit = 2 ** (h.bitsStored - 1);
  for (let i = 0; i < n; i++) {
    let raw = stored[i]!;
    if (raw < 0) raw += 2 ** h.bitsAllocated; // a codec's signed output: back to the stored bit pattern
    if (h.bitsStored < 32) raw = raw & mask;
    if (h.signed && raw >= signBit) raw -= 2 * signBit;
    values[i] = raw;
  }

  if (h.spp === 3) {
    const out = new Float32Array(n);
    const max = 2 ** h.bitsStored - 1;
    const px = h.rows * h.cols;
    const { planar, ybr } = layout;
    const half = (max + 1) / 2;
    for (let p = 0; p < px; p++) {
      const a = planar ? values[p]! : values[3 * p]!;
      const b = planar ? values[px + p]! : values[3 * p + 1]!;
      const c = planar ? values[2 * px + p]! : values[3 * p + 2]!;
      let r = a;
      let g = b;
      let bl = c;
      if (ybr) {
        // PS3.3 C.7.6.3.1.2: YBR_FULL from RGB by the ITU-R BT.601 full-range matrix; its inverse
        r = a + 1.402 * (c - half);
        g = a - 0.344136 * (b - half) - 0.714136 * (c - half);
        bl = a + 1.772 * (b - half);
      }
      out[3 * p] = Math.min(1, Math.max(0, r / max));
      out[3 * p + 1] = Math.min(1, Math.max(0, g / max));
      out[3 * p + 2] = Math.min(1, Math.max(0, bl / max));
    }
    return { width: h.cols, height: h.rows, channels: 3, data: out, scale: 1 };
  }

  const { ds } = h;
  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  const center = ds.floatString('x00281050');
  const width = ds.floatString('x00281051');
  for (let i = 0; i < n; i++) values[i] = values[i]! * slope + intercept;
  if (center !== undefined && width !== undefined && Number.isFinite(center) && Number.isFinite(width) && width > 0) {
    for (let i = 0; i < n; i++) values[i] = applyWindow(values[i]!, center, width);
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const range = hi - lo;
    for (let i = 0; i < n; i++) values[i] = range > 0 ? (values[i]! - lo) / range : 0;
  }
  if (h.photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) values[i] = 1 - values[i]!;
  return { width: h.cols, height: h.rows, channels: 1, data: values, scale: 1 };
}

function decodeUncompressed(bytes: Uint8Array, h: ImageHeader): Raster {
  if (h.spp === 3 && h.photometric !== 'RGB' && h.photometric !== 'YBR_FULL') {
    throw new DicomError(`uncompressed DICOM with photometric interpretation ${h.photometric} is not supported (RGB and YBR_FULL are)`, 'unsupported');
  }
  return toRaster(uncompressedSamples(bytes, h), h, { planar: h.planar === 1, ybr: h.photometric === 'YBR_FULL' });
}

function refuseSyntax(h: ImageHeader, why: string): never {
  throw new DicomError(`DICOM pixel data uses ${syntaxName(h.syntax)} (${h.syntax}), which ${why}; convert it with e.g. "gdcmconv --raw" or "dcmdjpeg"`, 'unsupported');
}

function decodeRleFrame(h: ImageHeader): Raster {
  if (h.photometric === 'YBR_FULL_422') refuseSyntax(h, 'is not decoded with YBR_FULL_422 (RLE stores full-resolution samples)');
  let samples: ArrayLike<number>;
  try {
    samples = decodeRle(firstFrameBytes(h), { rows: h.rows, cols: h.cols, samplesPerPixel: h.spp, bitsAllocated: h.bitsAllocated });
  } catch (err) {
    if (err instanceof DicomError) throw err;
    throw new DicomError(`corrupt RLE pixel data (${messageOf(err)})`);
  }
  // RLE segments are one per sample plane: the decoder interleaves them; YBR_FULL stays YCbCr
  return toRaster(samples, h, { planar: false, ybr: h.photometric === 'YBR_FULL' });
}

/**
 * Decodes the first frame of a DICOM file held in memory, synchronously: uncompressed pixel data
 * (Implicit/Explicit VR Little Endian, Explicit VR Big Endian) and RLE Lossless. The other
 * compressed syntaxes (JPEG, JPEG lossless, JPEG-LS, JPEG 2000) need a codec loaded asynchronously: they are
 * refused here, naming `decodeDicomAsync`. See `toRaster` for how values become [0, 1].
 */
export function decodeDicom(bytes: Uint8Array, maxPixels: number, assumeRawDataset = false): Raster {
  const h = readHeader(bytes, maxPixels, assumeRawDataset);
  if (UNCOMPRESSED.has(h.syntax)) return decodeUncompressed(bytes, h);
  if (h.syntax === TRANSFER_SYNTAX.rle) return decodeRleFrame(h);
  if (CODEC_OF[h.syntax]) refuseSyntax(h, 'needs a codec: decode it with decodeDicomAsync (codecs from @aeflow/datasets/dicom-codecs)');
  return refuseSyntax(h, 'is not supported (uncompressed, RLE, JPEG baseline/extended 8-bit, JPEG lossless, JPEG-LS and JPEG 2000 are)');
}

/**
 * Decodes the first frame of a DICOM file held in memory: everything `decodeDicom` does, plus
 * JPEG baseline/extended (8-bit), JPEG lossless, JPEG-LS (lossless and near-lossless) and JPEG 2000 through
 * `options.codecs`, each loaded only when a file needs it. Bytes in, pixels out: no file or
 * network access of its own, so it runs in a browser as in Node.
 */
export async function decodeDicomAsync(bytes: Uint8Array, options: DecodeDicomOptions): Promise<Raster> {
  const h = readHeader(bytes, options.maxPixels, options.assumeRawDataset ?? false);
  if (UNCOMPRESSED.has(h.syntax)) return decodeUncompressed(bytes, h);
  if (h.syntax === TRANSFER_SYNTAX.rle) return decodeRleFrame(h);
  const codecName = CODEC_OF[h.syntax];
  if (!codecName) return refuseSyntax(h, 'is not supported (uncompressed, RLE, JPEG baseline/extended 8-bit, JPEG lossless, JPEG-LS and JPEG 2000 are)');
  const load = options.codecs?.[codecName];
  if (!load) return refuseSyntax(h, `needs the ${codecName} codec, and none was given (pass codecs, e.g. from @aeflow/datasets/dicom-codecs)`);
  if (codecName === 'jpeg' && h.bitsStored > 8) return refuseSyntax(h, `is decoded for 8-bit samples only; this file stores ${h.bitsStored} bits`);
  const encoded = firstFrameBytes(h);
  let decoder: DicomFrameDecoder;
  try {
    decoder = await load();
  } catch (err) {
    throw new DicomError(`the ${codecName} codec for ${syntaxName(h.syntax)} could not be loaded (${messageOf(err)})`, 'unsupported');
  }
  let frame: DecodedFrame;
  try {
    frame = decoder(encoded);
  } catch (err) {
    throw new DicomError(`corrupt ${syntaxName(h.syntax)} pixel data (${messageOf(err)})`);
  }
  // the codecs hand back interleaved samples, colour as RGB (JPEG's and JPEG 2000's colour transforms undone)
  return toRaster(frameSamples(frame, h), h, { planar: false, ybr: false });
}
