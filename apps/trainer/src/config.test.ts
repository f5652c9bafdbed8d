import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, PRESETS } from '@aeflow/model';
import { buildConfig, mergeOverrides, parseSetArgs, parseSetValue } from './config.js';

describe('--set', () => {
  it('reads JSON values and keeps other text as strings', () => {
    expect(parseSetValue('1e-3')).toBe(0.001);
    expect(parseSetValue('true')).toBe(true);
    expect(parseSetValue('null')).toBeNull();
    expect(parseSetValue('[512,256]')).toEqual([512, 256]);
    expect(parseSetValue('resnet')).toBe('resnet');
    expect(parseSetValue('"42"')).toBe('42');
  });

  it('nests dotted keys, later assignments winning', () => {
    expect(parseSetArgs(['train.lr=0.01', 'flow.subnet=conv', 'train.lr=0.02', 'size=64'])).toEqual({ train: { lr: 0.02 }, flow: { subnet: 'conv' }, size: 64 });
    expect(() => parseSetArgs(['train.lr'])).toThrow(/is not key=value/);
    expect(() => parseSetArgs(['__proto__.x=1'])).toThrow(/not a dotted key/);
  });

  it('merges layers deeply', () => {
    expect(mergeOverrides({ train: { lr: 1, epochs: 2 } }, { train: { lr: 3 } })).toEqual({ train: { lr: 3, epochs: 2 } });
  });
});

describe('buildConfig', () => {
  it('resolves the cpu preset by default and applies file < --set < --seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aeflow-config-'));
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ train: { lr: 0.005, epochs: 7 }, flow: { blocks: 3 } }));
    const { config } = await buildConfig({ configFile: file, set: ['train.lr=0.002'], seed: 9 });
    expect(config.preset).toBe('cpu');
    expect(config.train).toMatchObject({ lr: 0.002, epochs: 7, seed: 9, batchSize: PRESETS.cpu.train.batchSize });
    expect(config.flow.blocks).toBe(3);
    const paper = await buildConfig({ preset: 'paper' });
    expect(paper.config).toEqual(PRESETS.paper);
  });

  it('names an unknown key and the keys allowed there', async () => {
    const err = await buildConfig({ set: ['train.learningRate=0.1'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/unknown key "learningRate" in train; allowed: lr, weightDecay, batchSize, epochs/);
  });

  it('names a wrong type or value and what is allowed', async () => {
    const failure = (p: Promise<unknown>) => p.then(() => new Error('no error'), (e: unknown) => e as Error);
    const type = await failure(buildConfig({ set: ['train.lr=fast'] }));
    expect(type.message).toMatch(/train\.lr: .*number.*\(got "fast"\)/);
    const value = await failure(buildConfig({ set: ['flow.subnet=transformer'] }));
    expect(value.message).toMatch(/flow\.subnet: "transformer" is not allowed; use one of "conv", "resnet"/);
    const preset = await failure(buildConfig({ preset: 'gpu' }));
    expect(preset.message).toMatch(/"gpu" is not a preset; use one of cpu, paper/);
  });

  it('says what is wrong with a config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aeflow-config-'));
    await writeFile(join(dir, 'bad.json'), '{ "train": { "lr": 0.1, } }');
    await expect(buildConfig({ configFile: join(dir, 'bad.json') })).rejects.toThrow(/bad\.json: invalid configuration:\n {2}not valid JSON/);
    await expect(buildConfig({ configFile: join(dir, 'missing.json') })).rejects.toThrow(/missing\.json: [\s\S]*cannot read it \(ENOENT\)/);
    await writeFile(join(dir, 'list.json'), '[1, 2]');
    await expect(buildConfig({ configFile: join(dir, 'list.json') })).rejects.toThrow(/one JSON object/);
  });
});
