import { z } from 'zod';

/** The file, at the root of an exported run folder (`run/` beside the page), that lists the rest. */
export const WEB_MANIFEST_FILE = 'manifest.json';

/** Where the page finds the exported run, relative to index.html. */
export const WEB_RUN_DIR = 'run';

const fileEntry = z.object({
  /** Path relative to the run folder, with `/`. */
  path: z
    .string()
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the run folder'),
  bytes: z.number().int().nonnegative(),
});

/**
 * What `exportWebFolder` writes and the page reads first: the run's own files (config, weights,
 * calibration) and the encoder's weight files the run names but does not hold (a run stores only
 * what was trained). Sizes let the page show how much is left to load.
 */
export const webManifestSchema = z.object({
  format: z.literal('aeflow-web-run'),
  version: z.literal(1),
  /** The run folder's name, shown on the page. */
  name: z.string(),
  exportedAt: z.string(),
  config: fileEntry,
  weights: fileEntry,
  /** β and the threshold with the rule that chose them; null when the run has none (no verdicts then). */
  calibration: fileEntry.nullable(),
  /** The pretrained encoder's files (e.g. MobileNet's model.json and the shards up to the tap); empty for seeded random weights. */
  encoder: z.object({ files: z.array(fileEntry) }),
  /**
   * The encoder's BatchNorm statistics re-estimated on the training normals
   * (encoder-batchnorm.safetensors, for runs with `encoder.batchNorm: 'train-normals'`); null or
   * absent: the weights' own.
   */
  encoderBatchNorm: fileEntry.nullable().optional(),
});

export type WebManifest = z.infer<typeof webManifestSchema>;
export type WebManifestFile = z.infer<typeof fileEntry>;

/** Parses a manifest, naming the file, the field and what to do about it on failure. */
export function parseWebManifest(raw: unknown, source = WEB_MANIFEST_FILE): WebManifest {
  const result = webManifestSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  throw new Error(`${source}: field "${field}": ${issue.message}. Export the run again with aeflow-score export --web <dir> --run <run>.`);
}
