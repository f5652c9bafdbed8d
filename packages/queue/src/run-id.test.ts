import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runIdOf } from './run-id.js';

describe('runIdOf', () => {
  it('is the same for copies of a run and changes with any file the scores depend on', async () => {
    const root = await mkdtemp(join(tmpdir(), 'run-id-'));
    const run = join(root, 'run');
    await mkdir(run);
    await writeFile(join(run, 'config.json'), '{"model":"aeflow"}');
    await writeFile(join(run, 'model.safetensors'), 'weights v1');
    const id = await runIdOf(run);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    await cp(run, join(root, 'copy'), { recursive: true });
    expect(await runIdOf(join(root, 'copy'))).toBe(id);
    await writeFile(join(run, 'calibration.json'), '{}'); // the threshold is the submitter's business
    expect(await runIdOf(run)).toBe(id);
    await writeFile(join(run, 'encoder-batchnorm.safetensors'), 'statistics');
    const withStats = await runIdOf(run);
    expect(withStats).not.toBe(id);
    await writeFile(join(run, 'model.safetensors'), 'weights v2');
    expect(await runIdOf(run)).not.toBe(withStats);
    await rm(join(run, 'model.safetensors'));
    await expect(runIdOf(run)).rejects.toThrow(/model\.safetensors: cannot read it \(no such file\); is .* a trained run folder\?/);
  });
});
