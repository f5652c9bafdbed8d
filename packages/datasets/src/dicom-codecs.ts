import type { DecodedFrame, DicomCodecs, DicomFrameDecoder } from './dicom.js';

/**
 * The Cornerstone codecs (Emscripten builds of libjpeg-turbo, CharLS and OpenJPEG, wasm shipped in
 * their npm packages; jpeg-lossless-decoder-js for JPEG lossless) as `DicomCodecs` for
 * `decodeDicomAsync`. Each is imported on first use and
 * kept. In Node nothing needs configuring. In a browser the bundler must serve the `.wasm` files
 * and leave out the Node branch of Emscripten's loader (`fs`, `path`: e.g. esbuild
 * `external: ['fs', 'path']`, webpack `resolve.fallback: { fs: false, path: false }`; Vite does
 * this itself); `locateFile` maps a wasm file name to its URL when it is not beside the script.
 */
export interface CornerstoneCodecOptions {
  locateFile?: (file: string, scriptDirectory: string) => string;
}

/** What the three Cornerstone decoders have in common (their C++ classes through embind). */
interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  getInterleaveMode?(): number;
  delete(): void;
}

type EmscriptenModule = Record<string, unknown>;
type EmscriptenFactory = (overrides?: Record<string, unknown>) => Promise<EmscriptenModule>;

/** An Emscripten module factory from a dynamic import of a CommonJS build (ESM wraps it in `default`). */
function factoryOf(imported: unknown): EmscriptenFactory {
  const m = imported as { default?: unknown };
  const f = typeof m === 'function' ? m : typeof m.default === 'function' ? m.default : (m.default as { default?: unknown } | undefined)?.default;
  if (typeof f !== 'function') throw new Error('the codec package did not export an Emscripten module factory');
  return f as EmscriptenFactory;
}

/**
 * One decode on a fresh decoder instance: the encoded bytes are copied into wasm memory, the
 * pixels copied out (the wasm views die with `delete`), colour planes interleaved.
 */
function decodeWith(module: EmscriptenModule, className: string, encoded: Uint8Array): DecodedFrame {
  const Decoder = module[className] as new () => EmscriptenDecoder;
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const raw = decoder.getDecodedBuffer().slice(); // a copy, aligned at 0
    const components = info.componentCount;
    const wide = info.bitsPerSample > 8;
    const count = info.width * info.height * components;
    let samples: Uint8Array | Uint16Array | Int16Array = wide ? (info.isSigned ? new Int16Array(raw.buffer, 0, count) : new Uint16Array(raw.buffer, 0, count)) : raw.subarray(0, count);
    // CharLS hands back planes (RRR…GGG…BBB) for interleave mode 0 ("none")
    if (components > 1 && decoder.getInterleaveMode?.() === 0) samples = interleave(samples, components);
    return { width: info.width, height: info.height, components, samples };
  } finally {
    decoder.delete();
  }
}

function interleave<T extends Uint8Array | Uint16Array | Int16Array>(planes: T, components: number): T {
  const out = new (planes.constructor as new (n: number) => T)(planes.length);
  const px = planes.length / components;
  for (let c = 0; c < components; c++) for (let p = 0; p < px; p++) out[p * components + c] = planes[c * px + p]!;
  return out;
}

/** What jpeg-lossless-decoder-js's `Decoder` has after `decode` (its typings are not shipped). */
interface LosslessDecoder {
  decode(buffer: ArrayBuffer, offset: number, length: number): Uint8Array | Uint16Array;
  xDim: number;
  yDim: number;
  numComp: number;
}

/**
 * JPEG lossless (process 14, the .4.57/.4.70 syntaxes): jpeg-lossless-decoder-js, plain JavaScript
 * (no wasm), the decoder Cornerstone uses for it. Samples come back interleaved.
 */
function jpegLossless(): () => Promise<DicomFrameDecoder> {
  let ready: Promise<DicomFrameDecoder> | undefined;
  return () => {
    ready ??= import('jpeg-lossless-decoder-js').then((m: unknown) => {
      const mod = m as { Decoder?: new () => LosslessDecoder; default?: { Decoder?: new () => LosslessDecoder } };
      const Decoder = mod.Decoder ?? mod.default?.Decoder;
      if (!Decoder) throw new Error('jpeg-lossless-decoder-js did not export Decoder');
      return (encoded: Uint8Array): DecodedFrame => {
        const decoder = new Decoder();
        const samples = decoder.decode(encoded.buffer as ArrayBuffer, encoded.byteOffset, encoded.byteLength);
        return { width: decoder.xDim, height: decoder.yDim, components: decoder.numComp, samples };
      };
    });
    ready.catch(() => (ready = undefined));
    return ready;
  };
}

export function cornerstoneDicomCodecs(options: CornerstoneCodecOptions = {}): Required<DicomCodecs> {
  // The C libraries print progress and warnings (OpenJPEG: "[INFO] Main header has been correctly
  // decoded"); a library must not write to the console: the last lines are kept for error messages.
  const printed: string[] = [];
  const keep = (line: string) => {
    printed.push(String(line));
    if (printed.length > 8) printed.shift();
  };
  const overrides = { print: keep, printErr: keep, ...(options.locateFile ? { locateFile: options.locateFile } : {}) };
  const lazy = (load: () => Promise<unknown>, className: string): (() => Promise<DicomFrameDecoder>) => {
    let ready: Promise<DicomFrameDecoder> | undefined;
    return () => {
      ready ??= load()
        .then((imported) => factoryOf(imported)(overrides))
        .then((module) => (encoded: Uint8Array) => {
          printed.length = 0;
          try {
            return decodeWith(module, className, encoded);
          } catch (err) {
            // the module stays loaded (embind cannot register a second instance in one process);
            // a C++ exception arrives as a bare number (a pointer): say what it is instead
            const said = printed.filter((l) => !/^\[INFO\]/.test(l)).join('; ');
            const what = typeof err === 'number' ? 'the codec refused the data' : err instanceof Error ? err.message : String(err);
            throw new Error(`${what}${said ? ` — ${said}` : ''}`);
          }
        });
      // a failed load is not kept: the next file tries again
      ready.catch(() => (ready = undefined));
      return ready;
    };
  };
  return {
    jpegLossless: jpegLossless(),
    jpeg: lazy(() => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'), 'JPEGDecoder'),
    jpegLs: lazy(() => import('@cornerstonejs/codec-charls/decodewasmjs'), 'JpegLSDecoder'),
    jpeg2000: lazy(() => import('@cornerstonejs/codec-openjpeg/decodewasmjs'), 'J2KDecoder'),
  };
}

/** The Cornerstone codecs with default options (shared: each wasm module is loaded once). */
export const dicomCodecs: Required<DicomCodecs> = cornerstoneDicomCodecs();
