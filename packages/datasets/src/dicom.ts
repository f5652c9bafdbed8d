import * as dicomParserModule from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { checkPixelLimit, type Raster } from './raster.js';
import { messageOf, type InvalidImageCode } from './errors.js';

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

const UNCOMPRESSED = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/** Names of the transfer syntaxes that carry compressed pixel data (for the error message). */
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

/** DICOM's linear VOI LUT (PS3.3 C.11.2.1.2.1): maps a modality value to [0, 1] through a window. */
export function applyWindow(x: number, center: number, width: number): number {
  if (width <= 1) return x < center ? 0 : 1;
  const lo = center - 0.5 - (width - 1) / 2;
  const hi = center - 0.5 + (width - 1) / 2;
  if (x <= lo) return 0;
  if (x > hi) return 1;
  return (x - (center - 0.5)) / (width - 1) + 0.5;
}

/**
 * Decodes the first frame of a DICOM file with uncompressed pixel data: stored values → rescale
 * slope/intercept (modality LUT) → window centre/width when the file has one (VOI LUT), else
 * min–max over the frame → MONOCHROME1 inverted so bright means dense everywhere. RGB (either planar
 * configuration) is scaled from its bit depth. Compressed transfer syntaxes are refused, naming the
 * syntax.
 */
export function decodeDicom(bytes: Uint8Array, maxPixels: number, assumeRawDataset = false): Raster {
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, assumeRawDataset ? { TransferSyntaxUID: '1.2.840.10008.1.2' } : undefined);
  } catch (err) {
    throw new DicomError(`unreadable DICOM (${messageOf(err).replace(/^dicomParser\.\w+: /, '')})`);
  }
  const syntax = ds.string('x00020010') ?? '1.2.840.10008.1.2';
  if (!UNCOMPRESSED.has(syntax)) {
    const name = COMPRESSED_NAMES[syntax] ?? 'an unknown transfer syntax';
    throw new DicomError(`DICOM pixel data uses ${name} (${syntax}), which is not supported: only uncompressed data (Implicit/Explicit VR Little Endian, Explicit VR Big Endian) is; convert it with e.g. "gdcmconv --raw" or "dcmdjpeg"`, 'unsupported');
  }
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
  if (spp === 3 && photometric !== 'RGB') throw new DicomError(`DICOM photometric interpretation ${photometric} is not supported (MONOCHROME1/2 and RGB are)`, 'unsupported');
  if (spp === 1 && photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    throw new DicomError(`DICOM photometric interpretation ${photometric} is not supported (MONOCHROME1/2 and RGB are)`, 'unsupported');
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16 && bitsAllocated !== 32) throw new DicomError(`DICOM with ${bitsAllocated} bits allocated is not supported (8, 16 and 32 are)`, 'unsupported');
  const bytesPer = bitsAllocated / 8;
  const n = rows * cols * spp;
  if (pixel.dataOffset + n * bytesPer > bytes.length || pixel.length < n * bytesPer) {
    throw new DicomError(`truncated DICOM pixel data: ${rows}×${cols}×${spp} at ${bitsAllocated} bits needs ${n * bytesPer} bytes, the element holds ${Math.min(pixel.length, bytes.length - pixel.dataOffset)}`);
  }
  const littleEndian = syntax !== '1.2.840.10008.1.2.2';
  const view = new DataView(bytes.buffer, bytes.byteOffset + pixel.dataOffset, n * bytesPer);
  const values = new Float32Array(n);
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  for (let i = 0; i < n; i++) {
    let raw = bytesPer === 1 ? view.getUint8(i) : bytesPer === 2 ? view.getUint16(2 * i, littleEndian) : view.getUint32(4 * i, littleEndian);
    if (bitsStored < 32) raw = raw & mask;
    if (signed && raw >= signBit) raw -= 2 * signBit;
    values[i] = raw;
  }

  if (spp === 3) {
    // RGB: scale by the stored depth; planar configuration 1 stores RRR…GGG…BBB.
    const out = new Float32Array(n);
    const max = 2 ** bitsStored - 1;
    const px = rows * cols;
    for (let p = 0; p < px; p++) {
      for (let c = 0; c < 3; c++) out[3 * p + c] = (planar === 1 ? values[c * px + p]! : values[3 * p + c]!) / max;
    }
    return { width: cols, height: rows, channels: 3, data: out, scale: 1 };
  }

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
  if (photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) values[i] = 1 - values[i]!;
  return { width: cols, height: rows, channels: 1, data: values, scale: 1 };
}
