import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import type { AEFlow, ImageScore } from '@aeflow/model';
import { exportOnnx, nhwcToNchw, ONNX_IO, readOnnxMetadata } from './export.js';

type OrtModule = typeof Ort;

let ortLoad: Promise<{ ort: OrtModule } | { error: string }> | undefined;

/**
 * onnxruntime-node, when its native binding loads here (its CPU binary ships in the npm package),
 * or why not. Imported inside try/catch, never resolved: a copy without its binding resolves
 * and then throws.
 */
export function loadOnnxRuntime(): Promise<{ ort: OrtModule } | { error: string }> {
  ortLoad ??= import('onnxruntime-node').then(
    (m) => {
      const ort = ((m as { default?: OrtModule }).default ?? m);
      if (typeof ort.InferenceSession?.create !== 'function') return { error: 'onnxruntime-node loaded without an InferenceSession' };
      return { ort };
    },
    (err: unknown) => ({ error: `onnxruntime-node does not load: ${(err as Error).message.split('\n')[0]}` }),
  );
  return ortLoad;
}

export interface OnnxScorerOptions {
  /** Intra-op threads (default: ONNX Runtime's choice, one per core). */
  threads?: number;
  /**
   * Execution providers in order of preference (default: `AEFLOW_ORT_PROVIDERS`, comma-separated,
   * else `['cpu']`; `'cuda'` needs the CUDA 12 provider files, see the README).
   */
  executionProviders?: string[];
}

/** The execution providers `AEFLOW_ORT_PROVIDERS` asks for (e.g. `cuda,cpu`), or undefined when unset. */
export function providersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const raw = env.AEFLOW_ORT_PROVIDERS?.trim();
  if (!raw) return undefined;
  const list = raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (list.length === 0) throw new Error(`AEFLOW_ORT_PROVIDERS="${raw}" names no provider; use e.g. cpu, or cuda,cpu`);
  return list;
}

/** Scores of a batch from ONNX Runtime, as `AEFlow.score` returns them (plus x′ when asked for and present). */
export interface OnnxScoreResult {
  scores: ImageScore[];
  /** [n, 3, size, size] in [0, 1] (NCHW), when `reconstruction: true` and the model has a decoder. */
  reconstruction?: Float32Array;
}

/**
 * An exported model in an ONNX Runtime session: scores NHWC pixels in [0, 1] (what
 * @aeflow/datasets yields) with the same numbers as the tfjs path (`AEFlow.score`).
 */
export class OnnxScorer {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    /** The image size the model takes (square). */
    readonly size: number,
    /** metadata_props of the model. */
    readonly metadata: Record<string, string>,
    /** The execution providers asked for. */
    readonly executionProviders: string[],
    /** Intra-op threads asked for (undefined: ONNX Runtime's default). */
    readonly threads: number | undefined,
    /** Why the providers asked for were not used (the CPU was), when so. */
    readonly providerFallback: string | undefined,
  ) {}

  /** Opens an exported model (a file path or its bytes). Throws when onnxruntime-node does not load here. */
  static async create(model: string | Uint8Array, options: OnnxScorerOptions = {}): Promise<OnnxScorer> {
    const loaded = await loadOnnxRuntime();
    if ('error' in loaded) throw new Error(`OnnxScorer: ${loaded.error}; score with the tfjs runtime instead (--runtime tfjs)`);
    const { ort } = loaded;
    const bytes = typeof model === 'string' ? new Uint8Array(await readFile(model)) : model;
    let executionProviders = options.executionProviders ?? providersFromEnv() ?? ['cpu'];
    const open = (providers: string[]) =>
      ort.InferenceSession.create(bytes, {
        executionProviders: providers,
        graphOptimizationLevel: 'all',
        ...(options.threads !== undefined ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      });
    let session: Ort.InferenceSession;
    let fallback: string | undefined;
    try {
      session = await open(executionProviders);
    } catch (err) {
      // A GPU provider asked for but not installed (its libraries are not in the npm package):
      // score on the CPU, and say so in describe() (the start-up line) rather than stop.
      if (executionProviders.every((p) => p === 'cpu')) throw err;
      fallback = `${executionProviders.join(', ')} failed: ${(err as Error).message.split('\n')[0]}`;
      executionProviders = ['cpu'];
      session = await open(executionProviders);
    }
    const metadata = readOnnxMetadata(bytes);
    const pre = metadata['aeflow.preprocessing'];
    const size = pre ? (JSON.parse(pre) as { size: [number, number] }).size[0] : NaN;
    if (!Number.isInteger(size)) {
      throw new Error(`OnnxScorer: ${typeof model === 'string' ? model : 'the model'} has no aeflow.preprocessing metadata with its size; export it with exportOnnx / aeflow-score export --onnx`);
    }
    return new OnnxScorer(ort, session, size, metadata, executionProviders, options.threads, fallback);
  }

  /** One line for a log: the runtime, its version, the providers asked for and the threads. */
  describe(): string {
    const version = (this.ort.env as { versions?: { node?: string; common?: string } }).versions;
    const fallback = this.providerFallback ? `; ${this.providerFallback}` : '';
    return `runtime onnx (onnxruntime-node ${version?.node ?? version?.common ?? 'unknown version'}, providers ${this.executionProviders.join(', ')}, ${this.threads ?? 'default'} threads${fallback})`;
  }

  /** The outputs the model has. */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Scores a batch of NHWC pixels in [0, 1], [n, size, size, 1 or 3] (row-major). With
   * `reconstruction: true` also returns x′ (models with a decoder).
   */
  async scoreNhwc(pixels: Float32Array, shape: readonly [number, number, number, number], options: { reconstruction?: boolean } = {}): Promise<OnnxScoreResult> {
    const [n, h, w, c] = shape;
    if (h !== this.size || w !== this.size || (c !== 1 && c !== 3)) {
      throw new Error(`OnnxScorer.scoreNhwc: images of shape [${shape.join(', ')}]; the model takes [n, ${this.size}, ${this.size}, 1 or 3] (resize to ${this.size} px)`);
    }
    return this.scoreNchw(nhwcToNchw(pixels, shape), [n, c, h, w], options);
  }

  /** Scores a batch already in the model's layout: NCHW in [0, 1], [n, 1 or 3, size, size]. */
  async scoreNchw(pixels: Float32Array, shape: readonly [number, number, number, number], options: { reconstruction?: boolean } = {}): Promise<OnnxScoreResult> {
    const [n, c, h, w] = shape;
    if (pixels.length !== n * c * h * w) throw new Error(`OnnxScorer.scoreNchw: ${pixels.length} values for shape [${shape.join(', ')}]`);
    const wantRecon = options.reconstruction === true && this.session.outputNames.includes(ONNX_IO.reconstruction);
    const fetches = [ONNX_IO.score, ONNX_IO.scoreFlow, ONNX_IO.scoreRecon, ONNX_IO.anomalyMap, ...(wantRecon ? [ONNX_IO.reconstruction] : [])];
    const input = new this.ort.Tensor('float32', pixels, [n, c, h, w]);
    const out = await this.session.run({ [ONNX_IO.input]: input }, fetches);
    try {
      const get = (k: string): Float32Array => out[k]!.data as Float32Array;
      const total = get(ONNX_IO.score);
      const flow = get(ONNX_IO.scoreFlow);
      const recon = get(ONNX_IO.scoreRecon);
      const map = get(ONNX_IO.anomalyMap);
      const scores: ImageScore[] = [];
      for (let i = 0; i < n; i++) {
        scores.push({ flow: flow[i]!, recon: recon[i]!, total: total[i]!, residual: map.slice(i * h * w, (i + 1) * h * w), width: w, height: h });
      }
      return { scores, ...(wantRecon ? { reconstruction: get(ONNX_IO.reconstruction).slice() } : {}) };
    } finally {
      input.dispose();
      for (const t of Object.values(out)) t.dispose();
    }
  }

  /**
   * Runs the model on NCHW pixels in [0, 1] and returns the named outputs as they are (e.g.
   * `z` [n, C, h, w] and `log_det` [n]; see ONNX_IO), with their shapes.
   */
  async run(pixels: Float32Array, shape: readonly [number, number, number, number], outputs: readonly string[]): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const missing = outputs.filter((o) => !this.session.outputNames.includes(o));
    if (missing.length > 0) throw new Error(`OnnxScorer.run: the model has no output ${missing.join(', ')} (it has ${this.session.outputNames.join(', ')})`);
    const input = new this.ort.Tensor('float32', pixels, [...shape]);
    const out = await this.session.run({ [ONNX_IO.input]: input }, [...outputs]);
    try {
      return Object.fromEntries(outputs.map((k) => [k, { data: (out[k]!.data as Float32Array).slice(), dims: [...out[k]!.dims] }]));
    } finally {
      input.dispose();
      for (const t of Object.values(out)) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Exports a loaded model and opens it in ONNX Runtime (no file). */
export async function onnxScorerFromModel(model: AEFlow, options: OnnxScorerOptions = {}): Promise<OnnxScorer> {
  return OnnxScorer.create(exportOnnx(model).bytes, options);
}
