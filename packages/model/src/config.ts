import { z } from 'zod';

/**
 * The run configuration: every setting of a model and its training, resolved from a preset plus
 * overrides, validated with zod (unknown keys and wrong types are errors naming the key and what
 * is allowed), and written to the run folder's `config.json`.
 */

export const MODEL_KINDS = ['aeflow', 'ae', 'fastflow', 'knn'] as const;
export const ENCODER_ARCHS = ['wide_resnet50_2', 'resnet18', 'resnet50', 'mobilenet_v1'] as const;
export const PRESET_NAMES = ['cpu', 'paper'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];
export type PresetName = (typeof PRESET_NAMES)[number];

const positiveInt = z.number().int().positive();
const resnetArch = z
  .object({
    block: z.enum(['basic', 'bottleneck']),
    layers: z.array(positiveInt).min(1).max(4),
    widthPerGroup: positiveInt.optional(),
  })
  .strict();

const encoderSchema = z
  .object({
    /** A named encoder, or the general torchvision ResNet form {block, layers, widthPerGroup}. */
    arch: z.union([z.enum(ENCODER_ARCHS), resnetArch]),
    /** 'pretrained' (the known asset), 'random' (seeded stand-in weights, for benchmarks) or a path. */
    weights: z.string().min(1),
    /** The feature map the flow sees (layer3 / conv_pw_11_relu: stride 16). */
    tap: z.string().min(1),
    /**
     * The encoder's BatchNorm statistics: 'pretrained' (the weights' own, ImageNet) or
     * 'train-normals' (re-estimated once, before training, on the training normals: no labels, no
     * gradients; stored in the run folder as `encoder-batchnorm.safetensors` and used for every
     * image scored after). Older configs load as 'pretrained'.
     */
    batchNorm: z.enum(['pretrained', 'train-normals']).default('pretrained'),
  })
  .strict();

const flowSchema = z
  .object({
    blocks: positiveInt,
    subnet: z.enum(['conv', 'resnet']),
    /** Hidden width of the subnets; null: the coupling's output width (≈ the feature channels). */
    hiddenChannels: positiveInt.nullable(),
    clamp: z.number().positive(),
    /** 'soft': clamp·tanh(s/clamp) (FrEIA since 2023); 'legacy': clamp·tanh(s) (FrEIA before, anomalib). */
    clampMode: z.enum(['soft', 'legacy']),
    /** Channel mixing between blocks: 'reverse' (fixed, the paper), 'random' (fixed, seeded) or 'invertible1x1' (Glow, learned). */
    permutation: z.enum(['reverse', 'random', 'invertible1x1']),
    /**
     * Channels of a 2-D sinusoidal positional encoding every coupling is conditioned on (as in
     * CFLOW-AD): the flow models p(feature | position) instead of one density for all positions.
     * 0 (the paper, and the default of configs written before this existed): unconditional.
     */
    positional: z
      .number()
      .int()
      .min(0)
      .refine((n) => n % 4 === 0, { error: 'must be a multiple of 4 (sin and cos per axis and frequency), e.g. 16; 0 turns it off' })
      .default(0),
    /**
     * What the flow (and, through it, the decoder) sees of each feature vector: 'none' (the paper)
     * or 'l2': divided by its L2 norm and scaled by √C, so every position has the same energy
     * (mean square 1 per channel) and the flow models the feature's direction, not its size.
     * Encoder features after a ReLU are mostly zeros with a heavy-tailed norm; the flow fits
     * their directions better (see docs/RESULTS.md). Older configs load as 'none'.
     */
    featureNorm: z.enum(['none', 'l2']).default('none'),
  })
  .strict();

const decoderSchema = z
  .object({
    /** Hidden widths of the up-blocks (log2(stride) − 1 numbers); null: derived from the encoder. */
    widths: z.array(positiveInt).nullable(),
  })
  .strict();

const lossSchema = z
  .object({
    /** L = α·NLL/dim + (1 − α)·recon. */
    alpha: z.number().min(0).max(1),
    /** Reconstruction loss: MSE on ImageNet-normalised images, or 1 − SSIM on [0, 1] images. */
    recon: z.enum(['mse', 'ssim']),
  })
  .strict();

const scoreSchema = z
  .object({
    /**
     * S = β·S_flow + (1 − β)·(−SSIM); 'auto': chosen on the validation images (the β of
     * {0, 0.05, …, 1} with the highest AUROC, needs anomalies there) at each validation, and kept
     * with the model.
     */
    beta: z.union([z.number().min(0).max(1), z.literal('auto')], { error: 'must be a number in [0, 1] or "auto"' }),
    /**
     * 'density': −exp(mean over dims of log N(z'; 0, I)) (default); 'nll': NLL per dimension with
     * the Jacobian; 'knn': the mean Euclidean distance of the image's pooled z′ (averaged over
     * positions) to the `knn.k` nearest pooled z′ of the training images — a memory rebuilt with
     * the flow after every epoch and saved with the model.
     */
    flow: z.enum(['density', 'nll', 'knn']),
    /**
     * 'nsa' (with score.flow 'knn', flow models): a self-supervised synthetic-anomaly head — a
     * logistic regression on the pooled encoder features, trained before the flow to tell each
     * training normal from itself with a soft patch of another normal blended in (NSA-style) — is
     * added to the flow part: latent kNN distance and head logit, each standardised on the
     * training normals, summed (column `latent_knn_nsa`). 'nsa-patch': the same head applied at
     * every feature position, its logits averaged over the highest quarter of the positions (in
     * training and scoring), so a local finding is not diluted by the rest of the image. 'none'
     * (the default, and configs written before it existed): the flow part alone.
     */
    synthetic: z.enum(['none', 'nsa', 'nsa-patch']).default('none'),
  })
  .strict();

const knnSchema = z
  .object({
    /** Neighbours averaged: the score is the mean distance to the k nearest training images. */
    k: positiveInt,
    /**
     * What a memory row of `score.flow: 'knn'` (flow models) pools z′ over: 'whole' (the image;
     * the default, and configs written before it existed) or 'left-right': each half of the
     * feature map's columns pooled on its own, the nearest neighbours found per half, the two
     * mean distances averaged. A chest's finding is often on one side; pooled with the other
     * side it is diluted, compared half with half it is not (docs/RESULTS.md: the probe and the
     * val/ row). The middle column of an odd-width map belongs to both halves.
     */
    regions: z.enum(['whole', 'left-right']).default('whole'),
  })
  .strict();

const trainSchema = z
  .object({
    lr: z.number().positive(),
    weightDecay: z.number().min(0),
    batchSize: positiveInt,
    epochs: positiveInt,
    /** Validate (and keep the best checkpoint) every this many epochs. */
    validateEvery: positiveInt,
    /** Compute the frozen encoder's features once and reuse them every epoch. */
    featureCache: z.boolean(),
    /**
     * Standard deviation of Gaussian noise added to the flow's input (after `flow.featureNorm`) at
     * each training step, drawn from a seed of `seed` and the step number (a resumed run draws the
     * same noise). Smooths the density the flow fits to a finite set of feature vectors; 0 (the
     * paper, and configs written before this existed): none.
     */
    featureNoise: z.number().min(0).default(0),
    seed: z.number().int(),
  })
  .strict();

/** The full, resolved configuration. */
export const runConfigSchema = z
  .object({
    preset: z.enum(PRESET_NAMES),
    /**
     * 'aeflow' (the paper), 'ae' (plain autoencoder: no flow, α = β = 0), 'fastflow' (flow only, no
     * decoder, β = 1), 'knn' (nothing trained: a memory of the training normals' pooled features,
     * scored by the distance to the nearest ones, β = 1; see `knn`).
     */
    model: z.enum(MODEL_KINDS),
    encoder: encoderSchema,
    /** Square input size in pixels (a multiple of the encoder stride). */
    size: positiveInt,
    flow: flowSchema,
    decoder: decoderSchema,
    loss: lossSchema,
    score: scoreSchema,
    /** Neighbours of the 'knn' model and of `score.flow: 'knn'`; configs written before it existed load with k 5. */
    knn: knnSchema.default({ k: 5, regions: 'whole' }),
    train: trainSchema,
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;

/** Overrides on top of a preset: every field optional, nested objects too, still strict. */
export const runConfigOverridesSchema = z
  .object({
    preset: z.enum(PRESET_NAMES).optional(),
    model: z.enum(MODEL_KINDS).optional(),
    encoder: encoderSchema.partial().strict().optional(),
    size: positiveInt.optional(),
    flow: flowSchema.partial().strict().optional(),
    decoder: decoderSchema.partial().strict().optional(),
    loss: lossSchema.partial().strict().optional(),
    score: scoreSchema.partial().strict().optional(),
    knn: knnSchema.partial().strict().optional(),
    train: trainSchema.partial().strict().optional(),
  })
  .strict();

export type RunConfigOverrides = z.infer<typeof runConfigOverridesSchema>;

/**
 * The two built-in presets.
 * - `paper`: the paper's setting (256 px, Wide-ResNet-50-2 layer3, 8 flow blocks with the resnet
 *   subnet, decoder 1024 → 512 → 256 → 64 → 3, Adam lr 2e-4, wd 1e-5, batch 64, 100 epochs).
 * - `cpu`: the embedded default for a small CPU with the wasm backend (see README for the measured
 *   result): MobileNet V1 features at `conv_pw_11_relu` (512 channels at 1/16) of 128-px images,
 *   4 flow blocks with the conv subnet at 64 hidden channels, a narrow decoder
 *   (512 → 64 → 32 → 16 → 3: the 3×3 convolutions of the derived widths cost 3× more), Adam lr 1e-3
 *   (the paper's chest X-ray setting), batch 16, 6 epochs, and the feature cache on; scored by the
 *   latent kNN per half (`knn.regions: 'left-right'`) plus the synthetic-anomaly head.
 */
export const PRESETS: Readonly<Record<PresetName, RunConfig>> = {
  paper: {
    preset: 'paper',
    model: 'aeflow',
    encoder: { arch: 'wide_resnet50_2', weights: 'pretrained', tap: 'layer3', batchNorm: 'pretrained' },
    size: 256,
    flow: { blocks: 8, subnet: 'resnet', hiddenChannels: null, clamp: 2, clampMode: 'soft', permutation: 'reverse', positional: 0, featureNorm: 'none' },
    decoder: { widths: [512, 256, 64] },
    loss: { alpha: 0.5, recon: 'mse' },
    score: { beta: 0.9, flow: 'density', synthetic: 'none' },
    knn: { k: 5, regions: 'whole' },
    train: { lr: 2e-4, weightDecay: 1e-5, batchSize: 64, epochs: 100, validateEvery: 5, featureCache: true, featureNoise: 0, seed: 0 },
  },
  cpu: {
    preset: 'cpu',
    model: 'aeflow',
    encoder: { arch: 'mobilenet_v1', weights: 'pretrained', tap: 'conv_pw_11_relu', batchNorm: 'train-normals' },
    size: 128,
    flow: { blocks: 4, subnet: 'conv', hiddenChannels: 64, clamp: 2, clampMode: 'soft', permutation: 'reverse', positional: 0, featureNorm: 'l2' },
    decoder: { widths: [64, 32, 16] },
    loss: { alpha: 0.5, recon: 'mse' },
    score: { beta: 0.9, flow: 'knn', synthetic: 'nsa' },
    knn: { k: 5, regions: 'left-right' },
    train: { lr: 1e-3, weightDecay: 0, batchSize: 16, epochs: 6, validateEvery: 1, featureCache: true, featureNoise: 0.1, seed: 0 },
  },
};

/** A zod error turned into one line per problem, naming the key and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly issues: string[],
    source: string,
  ) {
    super(`${source}: invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const path = issue.path.map(String).join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    // the keys allowed at that level: those of the full schema at the same path
    let shape: unknown = runConfigSchema.shape;
    for (const p of issue.path) {
      const field = (shape as Record<string, z.ZodType | undefined>)[String(p)];
      const inner = field && 'shape' in field ? (field as unknown as { shape: unknown }).shape : undefined;
      shape = inner;
    }
    const allowed = shape ? Object.keys(shape).join(', ') : 'see runConfigSchema';
    const where = issue.path.length > 0 ? ` in ${path}` : '';
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${where}; allowed: ${allowed}`;
  }
  if (issue.code === 'invalid_value') {
    return `${path}: ${JSON.stringify(valueAt(root, issue.path))} is not allowed; use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const got = valueAt(root, issue.path);
  return `${path}: ${issue.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ''}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Validates overrides (partial, strict) and throws a {@link ConfigError} naming each bad key. */
export function parseOverrides(input: unknown, source = 'config'): RunConfigOverrides {
  const r = runConfigOverridesSchema.safeParse(input ?? {});
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => describeIssue(i, input)), source);
  return r.data;
}

/** Validates a full configuration (as read from a run's `config.json`). */
export function parseRunConfig(input: unknown, source = 'config'): RunConfig {
  const r = runConfigSchema.safeParse(input);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => describeIssue(i, input)), source);
  const c = r.data;
  if (c.score.synthetic !== 'none' && (c.score.flow !== 'knn' || (c.model !== 'aeflow' && c.model !== 'fastflow'))) {
    throw new ConfigError([`score.synthetic: "${c.score.synthetic}" is added to the flow-latent kNN score; it needs score.flow "knn" and model "aeflow" or "fastflow" (got score.flow "${c.score.flow}", model "${c.model}"); set score.synthetic "none" otherwise`], source);
  }
  if (c.knn.regions !== 'whole' && (c.score.flow !== 'knn' || (c.model !== 'aeflow' && c.model !== 'fastflow'))) {
    throw new ConfigError([`knn.regions: "${c.knn.regions}" pools the flow latent z′ per region for score.flow "knn"; it needs score.flow "knn" and model "aeflow" or "fastflow" (got score.flow "${c.score.flow}", model "${c.model}"); set knn.regions "whole" otherwise`], source);
  }
  return c;
}

/**
 * Resolves a configuration: the preset (`overrides.preset`, default `cpu`), then the overrides,
 * then the baseline rules — `ae` has no flow (α = β = 0), `fastflow` no decoder (α = β = 1), `knn`
 * neither (β = 1, one epoch: the pass that fills its memory).
 */
export function resolveConfig(overridesInput: unknown = {}, source = 'config'): RunConfig {
  const o = parseOverrides(overridesInput, source);
  const base = PRESETS[o.preset ?? 'cpu'];
  // Only the keys the overrides name: zod fills a field's default (kept for old config.json files)
  // into a partial section too, which would overwrite the preset's value of that field.
  const raw = (overridesInput ?? {}) as Record<string, unknown>;
  const named = <T extends object>(section: T | undefined, key: string): Partial<T> => {
    const given = raw[key];
    if (!section || typeof given !== 'object' || given === null) return {};
    return Object.fromEntries(Object.entries(section).filter(([k]) => k in given)) as Partial<T>;
  };
  const merged = {
    preset: o.preset ?? base.preset,
    model: o.model ?? base.model,
    encoder: { ...base.encoder, ...named(o.encoder, 'encoder') },
    size: o.size ?? base.size,
    flow: { ...base.flow, ...named(o.flow, 'flow') },
    decoder: { ...base.decoder, ...named(o.decoder, 'decoder') },
    loss: { ...base.loss, ...named(o.loss, 'loss') },
    score: { ...base.score, ...named(o.score, 'score') },
    knn: { ...base.knn, ...named(o.knn, 'knn') },
    train: { ...base.train, ...named(o.train, 'train') },
  };
  // A Wide-ResNet-specific decoder width list does not fit another encoder: derive it then.
  if (o.encoder?.arch !== undefined && o.decoder?.widths === undefined && o.encoder.arch !== base.encoder.arch) merged.decoder.widths = null;
  // The preset's synthetic-anomaly head rides on the latent kNN of a flow: an override that leaves
  // that setting (another score.flow or model kind) without naming score.synthetic turns it off.
  const latentKnn = merged.score.flow === 'knn' && (merged.model === 'aeflow' || merged.model === 'fastflow');
  if (named(o.score, 'score').synthetic === undefined && !latentKnn) merged.score.synthetic = 'none';
  // the same for the latent kNN's regions
  if (named(o.knn, 'knn').regions === undefined && !latentKnn) merged.knn.regions = 'whole';
  if (merged.model === 'ae') {
    merged.loss.alpha = 0;
    merged.score.beta = 0;
  } else if (merged.model === 'fastflow') {
    merged.loss.alpha = 1;
    merged.score.beta = 1;
  } else if (merged.model === 'knn') {
    // nothing is trained: one pass over the training images fills the memory
    merged.loss.alpha = 1;
    merged.score.beta = 1;
    merged.train.epochs = 1;
  }
  return parseRunConfig(merged, source);
}

/** The JSON Schema of the configuration (for a CLI's `--help` or an editor). */
export function runConfigJsonSchema(): unknown {
  return z.toJSONSchema(runConfigSchema);
}
