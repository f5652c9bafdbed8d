import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDataPaths, checkOutputFile, checkOutputFolder, checkRunFolder, formatDuration, PathError, reportFailure } from './cli.js';
import { EXIT_CODES, exitCodeOf, InterruptedError, UsageError } from './exit-codes.js';

// root ignores permission bits: the read-only cases cannot fail for it, so they are skipped and say so.
const isRoot = process.getuid?.() === 0;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aeflow-eval-cli-'));
  await mkdir(join(root, 'run'));
  await writeFile(join(root, 'run', 'config.json'), '{}');
  await writeFile(join(root, 'run', 'model.safetensors'), '');
  await mkdir(join(root, 'interrupted'));
  await writeFile(join(root, 'interrupted', 'config.json'), '{}');
  await writeFile(join(root, 'interrupted', 'checkpoint.safetensors'), '');
  await writeFile(join(root, 'a-file'), 'x');
  await mkdir(join(root, 'empty'));
  await symlink(join(root, 'loop-a'), join(root, 'loop-b'));
  await symlink(join(root, 'loop-b'), join(root, 'loop-a'));
});

const fails = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PathError);
    const message = (err as Error).message;
    // in words: never a raw errno code
    expect(message).not.toMatch(/ENOENT|EEXIST|EPERM|EACCES|ENOTDIR|ELOOP/);
    return message;
  }
  throw new Error('expected a PathError');
};

describe('exit codes', () => {
  it('one table: usage 2, data/run 1, interrupted 130', () => {
    expect(EXIT_CODES).toEqual({ ok: 0, failed: 1, usage: 2, interrupted: 130 });
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new InterruptedError('training'))).toBe(130);
    expect(exitCodeOf(new PathError('x'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });

  it('a failure is a line on stderr, and with --json also a JSON line on stdout', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(reportFailure(io, 'aeflow-x', 'human', new UsageError('missing --out'))).toBe(2);
    expect(err).toEqual(['aeflow-x: missing --out']);
    expect(out).toEqual([]);
    expect(reportFailure(io, 'aeflow-x', 'json', new PathError('--run r: no such run folder'))).toBe(1);
    expect(JSON.parse(out[0]!)).toEqual({ event: 'error', exitCode: 1, error: '--run r: no such run folder' });
    expect(formatDuration(3725)).toBe('1h02m');
  });
});

describe('path checks', () => {
  it('--run: missing, a file, no run in it, an interrupted run, a loop', async () => {
    expect(await checkRunFolder(join(root, 'run'))).toBe(join(root, 'run'));
    expect(await fails(checkRunFolder(join(root, 'nope')))).toMatch(/--run .*nope: no such run folder \(check the path\)/);
    expect(await fails(checkRunFolder(join(root, 'a-file')))).toMatch(/is a file, not a run folder/);
    expect(await fails(checkRunFolder(join(root, 'empty')))).toMatch(/holds no trained run \(no config\.json\)/);
    expect(await fails(checkRunFolder(join(root, 'interrupted')))).toMatch(/no model\.safetensors.*interrupted.*aeflow-train --resume --out/);
    expect(await fails(checkRunFolder(join(root, 'loop-a')))).toMatch(/symbolic link loop/);
    expect(await fails(checkRunFolder(join(root, 'a-file', 'x')))).toMatch(/a part of the path is a file/);
  });

  it('--out: an existing file, a file as a parent; a new folder under a writable one is fine', async () => {
    expect(await checkOutputFolder(join(root, 'new', 'deeper'))).toBe(join(root, 'new', 'deeper'));
    expect(await checkOutputFolder(join(root, 'empty'))).toBe(join(root, 'empty'));
    expect(await fails(checkOutputFolder(join(root, 'a-file')))).toMatch(/--out .*a-file: is an existing file; give a folder/);
    expect(await fails(checkOutputFolder(join(root, 'a-file', 'sub')))).toMatch(/a-file is a file, so the folder cannot be created there|a part of the path is a file/);
  });

  it('--onnx (a file to write): an existing folder, a file as its folder; a new file, in a new folder or over an old file, is fine', async () => {
    expect(await checkOutputFile(join(root, 'new-dir', 'model.onnx'), '--onnx')).toBe(join(root, 'new-dir', 'model.onnx'));
    expect(await checkOutputFile(join(root, 'a-file'), '--onnx')).toBe(join(root, 'a-file'));
    expect(await fails(checkOutputFile(join(root, 'empty'), '--onnx'))).toMatch(/--onnx .*empty: is an existing folder; give a file name \(e\.g\. .*empty\/model\.onnx\)/);
    expect(await fails(checkOutputFile(join(root, 'a-file', 'model.onnx'), '--onnx'))).toMatch(/--onnx .*a-file\/model\.onnx: its folder .*a-file: is an existing file/);
  });

  it.skipIf(isRoot)('--out under a read-only folder, and a read-only --out (skipped as root: root writes anywhere)', async () => {
    const ro = join(root, 'read-only');
    await mkdir(ro);
    await chmod(ro, 0o555);
    try {
      expect(await fails(checkOutputFolder(join(ro, 'run')))).toMatch(/cannot create it, .*read-only is read-only \(permission denied\)/);
      expect(await fails(checkOutputFolder(ro))).toMatch(/the folder is read-only/);
    } finally {
      await chmod(ro, 0o755);
    }
  });

  it('--data: missing, a file where a dataset folder is wanted, a loop', async () => {
    expect(await checkDataPaths([join(root, 'empty')], { folder: true })).toEqual([join(root, 'empty')]);
    expect(await checkDataPaths([join(root, 'a-file')])).toEqual([join(root, 'a-file')]);
    expect(await fails(checkDataPaths([join(root, 'nowhere')], { folder: true }))).toMatch(/--data .*nowhere: no such dataset folder/);
    expect(await fails(checkDataPaths([join(root, 'a-file')], { folder: true }))).toMatch(/is a file; give the dataset folder/);
    expect(await fails(checkDataPaths([join(root, 'empty'), join(root, 'gone.png')]))).toMatch(/gone\.png: no such file or folder/);
    expect(await fails(checkDataPaths([join(root, 'loop-a')]))).toMatch(/symbolic link loop/);
  });
});
