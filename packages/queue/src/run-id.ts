import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RunFolder } from '@aeflow/model/node';

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * The id of a trained run as the queue knows it: a hash of its config.json and model.safetensors
 * (the two files scores depend on, β included), 16 hex digits. Two folders holding the same run
 * have the same id; retraining into the same folder gives a new one.
 */
export async function runIdOf(runDir: string): Promise<string> {
  const folder = new RunFolder(runDir);
  const hash = createHash('sha256');
  for (const file of ['config', 'model'] as const) {
    const path = folder.path(file);
    try {
      hash.update(`${file}\0`);
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
