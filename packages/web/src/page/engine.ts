import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormStatistics } from '@aeflow/backbone';
import { RUN_FILE_CODECS, batchNormStatisticsFromTensors, createModel, isModelWeightKey, type CalibrationFile } from '@aeflow/model';
import { decodeSafetensors, registerWasmTrainingKernels } from '@aeflow/tensor';
import { parseWebManifest, WEB_MANIFEST_FILE, type WebManifestFile } from '../manifest.js';
import { describeRun, type RunInfo } from '../run-info.js';
import { encoderFromFiles } from './encoder.js';

/** The numbers and maps of one scored image (what the table and the figures show). */
export interface PageScore {
  total: number;
  /** The two parts in the order of `RunInfo.parts` (null where the model has no such part). */
  parts: [number | null, number | null];
  /** The heat map, mapHeight × mapWidth, row-major. */
  map: Float32Array;
  mapWidth: number;
  mapHeight: number;
  /** x′ in [0, 1], size × size × 3, for models with a decoder. */
  reconstruction: Float32Array | null;
}

export interface RunSession {
  info: RunInfo;
  score(input: Float32Array): Promise<PageScore>;
  dispose(): void;
}

async function fetchBytes(base: URL, file: WebManifestFile, onBytes: (n: number) => void): Promise<Uint8Array> {
  const url = new URL(file.path, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}; the exported folder is incomplete — export the run again`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length !== file.bytes) throw new Error(`${url.pathname}: ${bytes.length} bytes, the manifest says ${file.bytes}; the exported folder is damaged — export the run again`);
  onBytes(bytes.length);
  return bytes;
}

/**
 * Opens an exported run (`run/` beside the page): reads its manifest, config, calibration, the
 * encoder's and the model's weights — all from the page's origin — and builds the model with
 * `@aeflow/model`, the same code the CLI scores with.
 */
export async function openRun(base: URL, backend: string, onProgress: (loaded: number, total: number) => void): Promise<RunSession> {
  const manifestUrl = new URL(WEB_MANIFEST_FILE, base);
  const res = await fetch(manifestUrl);
  if (!res.ok) throw new Error(`${manifestUrl.pathname}: HTTP ${res.status}; this folder holds no exported run (write one with aeflow-score export --web <dir> --run <run>)`);
  const manifest = parseWebManifest(await res.json(), manifestUrl.pathname);
  const batchNormFile = manifest.encoderBatchNorm ?? null;
  const files = [manifest.config, manifest.weights, ...(manifest.calibration ? [manifest.calibration] : []), ...manifest.encoder.files, ...(batchNormFile ? [batchNormFile] : [])];
  const total = files.reduce((a, f) => a + f.bytes, 0);
  let loaded = 0;
  const count = (n: number) => {
    loaded += n;
    onProgress(loaded, total);
  };
  const text = async (f: WebManifestFile) => new TextDecoder().decode(await fetchBytes(base, f, count));
  // the run-folder owner's codecs: the same validation (and messages) as the CLI's reads
  const config = RUN_FILE_CODECS.config.parse(await text(manifest.config), `run/${manifest.config.path}`);
  const calibration: CalibrationFile | null = manifest.calibration ? RUN_FILE_CODECS.calibration.parse(await text(manifest.calibration), `run/${manifest.calibration.path}`) : null;
  const encoderFiles = new Map<string, Uint8Array>();
  for (const f of manifest.encoder.files) encoderFiles.set(f.path.replace(/^encoder\//, ''), await fetchBytes(base, f, count));
  const weights = await fetchBytes(base, manifest.weights, count);
  // the CLI's wasm path: aeflow's kernels replace some of wasm's (same numbers, fewer copies)
  if (backend === 'wasm') registerWasmTrainingKernels();
  // the run's re-estimated BatchNorm statistics replace the weights' own, as in the CLI's loadRun
  let batchNorm: BatchNormStatistics | undefined;
  if (config.encoder.batchNorm === 'train-normals') {
    if (!batchNormFile) throw new Error(`${manifestUrl.pathname}: the run's config.json has encoder.batchNorm "train-normals" but the export carries no encoder-batchnorm.safetensors; export the run again with aeflow-score export --web`);
    const decoded = decodeSafetensors(await fetchBytes(base, batchNormFile, count), `run/${batchNormFile.path}`);
    try {
      batchNorm = batchNormStatisticsFromTensors(decoded.tensors, `run/${batchNormFile.path}`);
    } finally {
      tf.dispose(Object.values(decoded.tensors));
    }
  }
  const encoder = await encoderFromFiles(config, encoderFiles, batchNorm);
  const model = createModel(config, encoder);
  const { tensors, metadata } = decodeSafetensors(weights, `run/${manifest.weights.path}`);
  try {
    model.setWeights(Object.fromEntries(Object.entries(tensors).filter(([k]) => isModelWeightKey(k))));
  } finally {
    tf.dispose(Object.values(tensors));
  }
  // β: the calibration's (the threshold is only meaningful at it), else the one the weights record
  const beta = calibration?.beta ?? (metadata.beta !== undefined ? Number(metadata.beta) : model.beta);
  model.setBeta(beta);
  const info = describeRun(manifest.name, config, calibration, model.beta);
  const size = config.size;
  return {
    info,
    async score(input: Float32Array): Promise<PageScore> {
      if (input.length !== size * size * 3) throw new Error(`score: expected ${size}×${size}×3 values, got ${input.length}`);
      const images = tf.tensor4d(input, [1, size, size, 3]);
      const s = model.scoreTensors(images, { reconstruction: model.decoder !== undefined });
      try {
        const [flow, recon, totalScore, map, rec] = await Promise.all([s.flow.data(), s.recon.data(), s.total.data(), s.residual.data(), s.reconstruction ? s.reconstruction.data() : Promise.resolve(null)]);
        const [, h, w] = s.residual.shape;
        return {
          total: totalScore[0]!,
          parts: [info.parts[0] === null ? null : flow[0]!, info.parts[1] === null ? null : recon[0]!],
          map: map as Float32Array,
          mapWidth: w,
          mapHeight: h,
          reconstruction: rec as Float32Array | null,
        };
      } finally {
        tf.dispose([images, s.flow, s.recon, s.total, s.residual, ...(s.reconstruction ? [s.reconstruction] : [])]);
      }
    },
    dispose: () => model.dispose(),
  };
}
