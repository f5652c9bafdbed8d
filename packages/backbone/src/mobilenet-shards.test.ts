import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { buildEncoder, mobilenetShards } from './index.js';
import { createEncoder } from './node.js';

const HOME = process.env.AEFLOW_HOME;
const MODEL = join(HOME ?? '', 'assets', 'mobilenet_v1_1.0_224');
const NEEDS_HOME = '(needs AEFLOW_HOME: set it to the shared folder)';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

describe('mobilenetShards', () => {
  it.skipIf(!HOME)(`lists exactly the shards an encoder with those taps reads: built from them alone it is the file encoder ${NEEDS_HOME}`, async () => {
    const modelJson = await readFile(join(MODEL, 'model.json'));
    const parsed = JSON.parse(modelJson.toString('utf8')) as { weightsManifest: { paths: string[] }[] };
    const all = parsed.weightsManifest.flatMap((g) => g.paths);
    const shallow = mobilenetShards(modelJson, ['layer1']);
    const deep = mobilenetShards(modelJson.toString('utf8'), ['conv_pw_11_relu']);
    // deeper taps need more, never the head's; the same answer from bytes, text or the parsed value
    expect(shallow.length).toBeGreaterThan(0);
    expect(deep.length).toBeGreaterThan(shallow.length);
    expect(deep.length).toBeLessThan(all.length);
    expect(deep).toEqual(expect.arrayContaining(shallow));
    expect(mobilenetShards(parsed, ['layer3'])).toEqual(deep);
    const shards: Record<string, Uint8Array> = {};
    for (const p of deep) shards[p] = await readFile(join(MODEL, p));
    const fromFile = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_11_relu'] });
    const fromShards = await buildEncoder({ arch: 'mobilenet_v1', weights: { modelJson, shards }, taps: ['conv_pw_11_relu'] });
    expect(fromShards.weightsHash).toBe(fromFile.weightsHash);
    const x = tf.randomUniform<tf.Rank.R4>([1, 64, 64, 3], 0, 1, 'float32', 3);
    const a = fromFile.features(x).conv_pw_11_relu;
    const b = fromShards.features(x).conv_pw_11_relu;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    fromFile.dispose();
    fromShards.dispose();
    // one shard fewer and the build fails, naming it
    const { [deep.at(-1)!]: _last, ...fewer } = shards;
    await expect(buildEncoder({ arch: 'mobilenet_v1', weights: { modelJson, shards: fewer, source: 'm' }, taps: ['conv_pw_11_relu'] })).rejects.toThrow(deep.at(-1));
  });

  it('names the file and the fix for text that is not a model.json, an unknown tap, no taps', () => {
    expect(() => mobilenetShards('not json', ['layer1'], 'run/encoder/model.json')).toThrow(/^run\/encoder\/model\.json: not JSON .*model\.json$/);
    expect(() => mobilenetShards({ modelTopology: {} }, ['layer1'])).toThrow(/model\.json/);
    expect(() => mobilenetShards('{}', [])).toThrow(/at least one tap/);
  });
});
