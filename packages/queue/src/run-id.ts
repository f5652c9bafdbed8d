import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RunFolder } from '@aeflow/model/node';

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * The id of a trained run as the queue knows it: a hash of the files its scores depend on —
 * config.json, model.safetensors (flow, decoder, kNN memory, β) and, when the run has one,
 * encoder-batchnorm.safetensors (re-estimated encoder statistics) — 16 hex digits. Two folders
 * holding the same run have the same id; retraining into the same folder gives a new one.
 */
export async function runIdOf(runDir: string): Promise<string> {
  const folder = new RunFolder(runDir);
  const hash = createHash('sha256');
  // the statistics file exists only for encoder.batchNorm 'train-normals'
  const files = ['config', 'model', ...((await folder.exists('encoderBatchNorm')) ? (['encoderBatchNorm'] as const) : [])] as const;
  for (const file of files) {
    const path = folder.path(file);
    hash.update(`${file}\0`);
    try {
      await hashFile(path, hash);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : String((err as Error).message)}); is ${runDir} a trained run folder?`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** sha256 of bytes, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
