/** Where an RLE frame sits in the image (DICOM PS3.5 Annex G). */
export interface RleFrameShape {
  rows: number;
  cols: number;
  samplesPerPixel: number;
  bitsAllocated: number;
}

/**
 * Decodes one frame of DICOM RLE Lossless (PS3.5 Annex G) to stored values, samples interleaved.
 * The frame starts with a 64-byte header: the number of segments and up to 15 segment offsets. Each
 * segment is one byte plane, PackBits-coded: for every sample in turn, its most significant byte
 * first. Throws on a header or segment that does not fit the image.
 */
export function decodeRle(frame: Uint8Array, shape: RleFrameShape): Uint8Array | Uint16Array | Uint32Array {
  const { rows, cols, samplesPerPixel: spp, bitsAllocated } = shape;
  const bytesPer = bitsAllocated / 8;
  if (!Number.isInteger(bytesPer) || bytesPer < 1 || bytesPer > 4) throw new Error(`RLE with ${bitsAllocated} bits allocated is not decoded (8, 16 and 32 are)`);
  if (frame.length < 64) throw new Error(`the RLE header needs 64 bytes, the frame has ${frame.length}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== spp * bytesPer) throw new Error(`the RLE header lists ${segments} segments, ${spp} samples of ${bitsAllocated} bits need ${spp * bytesPer}`);
  const offsets: number[] = [];
  for (let i = 0; i < segments; i++) offsets.push(view.getUint32(4 + 4 * i, true));
  const pixels = rows * cols;
  const out = bytesPer === 1 ? new Uint8Array(pixels * spp) : bytesPer === 2 ? new Uint16Array(pixels * spp) : new Uint32Array(pixels * spp);
  const plane = new Uint8Array(pixels);
  for (let s = 0; s < segments; s++) {
    const start = offsets[s]!;
    const end = s + 1 < segments ? offsets[s + 1]! : frame.length;
    if (start < 64 || start > end || end > frame.length) throw new Error(`RLE segment ${s + 1} of ${segments} has offsets ${start}..${end} outside the frame of ${frame.length} bytes`);
    unpackBits(frame, start, end, plane, s + 1);
    const sample = Math.floor(s / bytesPer);
    const shift = 8 * (bytesPer - 1 - (s % bytesPer)); // most significant byte plane first
    const weight = 2 ** shift;
    for (let p = 0, k = sample; p < pixels; p++, k += spp) out[k] = out[k]! + plane[p]! * weight;
  }
  return out;
}

/** PackBits (PS3.5 G.3.2) from `src[start..end)` into exactly `dst.length` bytes. */
function unpackBits(src: Uint8Array, start: number, end: number, dst: Uint8Array, segment: number): void {
  let i = start;
  let o = 0;
  while (o < dst.length) {
    if (i >= end) throw new Error(`RLE segment ${segment} ends after ${o} of ${dst.length} bytes`);
    const n = (src[i++]! << 24) >> 24; // signed byte
    if (n >= 0) {
      const count = n + 1;
      if (i + count > end || o + count > dst.length) throw new Error(`RLE segment ${segment} has a literal run past its end`);
      dst.set(src.subarray(i, i + count), o);
      i += count;
      o += count;
    } else if (n !== -128) {
      const count = 1 - n;
      if (i >= end || o + count > dst.length) throw new Error(`RLE segment ${segment} has a replicate run past its end`);
      dst.fill(src[i++]!, o, o + count);
      o += count;
    }
  }
}
