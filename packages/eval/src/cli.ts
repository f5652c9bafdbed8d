import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EXIT_CODES, exitCodeOf, type ExitCode } from './exit-codes.js';

/** How a CLI talks: a progress bar for people, JSON lines for machines, or quiet. */
export type OutputMode = 'human' | 'json' | 'quiet';

/** Where a CLI writes: results on `out` (stdout), messages and progress on `err` (stderr). */
export interface Console {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processConsole: Console = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Seconds as `1h02m`, `4m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** An error's message for users (no stack trace). */
export function userMessage(err: unknown): string {
  if (err instanceof Error) {
    // Several-line messages (a config with several problems) are kept whole; stacks never are.
    return err.message.trim() || err.name;
  }
  return String(err);
}

/**
 * Reports the error a command ended with and returns its exit code (see EXIT_CODES): a line
 * `<tool>: <message>` on stderr, and with `--json` also one JSON line on stdout
 * (`{"event":"error","exitCode":…,"error":…}`), so a program reading stdout sees every failure.
 */
export function reportFailure(io: Console, tool: string, mode: OutputMode, err: unknown, exitCode: ExitCode = exitCodeOf(err)): ExitCode {
  const message = userMessage(err);
  io.err(`${tool}: ${message}`);
  if (mode === 'json') io.out(JSON.stringify({ event: 'error', exitCode, error: message }));
  return exitCode;
}

/**
 * A path given on the command line that cannot be used (missing, not a folder, not writable, an
 * existing file where a folder is written). Exit code 1 (a data/run error), reported before the
 * backend or the data is loaded, in words instead of ENOENT / EEXIST / EPERM.
 */
export class PathError extends Error {
  readonly exitCode = EXIT_CODES.failed;
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

type Kind = 'dir' | 'file' | 'other' | 'missing' | 'denied' | 'loop' | 'notdir';

async function kindOf(path: string): Promise<Kind> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return 'denied';
    if (code === 'ELOOP') return 'loop';
    if (code === 'ENOTDIR') return 'notdir';
    return 'missing';
  }
}

async function can(path: string, mode: number): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

function whyNot(option: string, path: string, kind: Kind, wanted: string): string {
  switch (kind) {
    case 'missing':
      return `${option} ${path}: no such ${wanted} (check the path)`;
    case 'notdir':
      return `${option} ${path}: a part of the path is a file, not a folder (check the path)`;
    case 'denied':
      return `${option} ${path}: permission denied (a folder on the way cannot be read; check its permissions)`;
    case 'loop':
      return `${option} ${path}: the path is a symbolic link loop`;
    default:
      return `${option} ${path}: not a ${wanted}`;
  }
}

/**
 * `--run`: a trained run folder (with config.json and model.safetensors). Throws a PathError that
 * says what is wrong and what to do.
 */
export async function checkRunFolder(path: string, option = '--run'): Promise<string> {
  const abs = resolve(path);
  const kind = await kindOf(abs);
  if (kind === 'file' || kind === 'other') throw new PathError(`${option} ${path}: is a file, not a run folder; give the folder aeflow-train wrote (its --out)`);
  if (kind !== 'dir') throw new PathError(whyNot(option, path, kind, 'run folder') + '; give the folder aeflow-train wrote (its --out)');
  if (!(await can(abs, constants.R_OK | constants.X_OK))) throw new PathError(`${option} ${path}: the folder cannot be read (permission denied)`);
  for (const file of ['config.json', 'model.safetensors']) {
    const k = await kindOf(resolve(abs, file));
    if (k !== 'file') {
      throw new PathError(
        `${option} ${path}: holds no trained run (no ${file})${file === 'model.safetensors' && (await kindOf(resolve(abs, 'checkpoint.safetensors'))) === 'file' ? '; its training was interrupted before the end: finish it with aeflow-train --resume --out ' + path : '; give the folder aeflow-train wrote (its --out)'}`,
      );
    }
  }
  return abs;
}

/**
 * `--out`: a folder to write into. It may exist (as a folder, writable) or not (then its nearest
 * existing parent must be a writable folder, where it is created). Checked before anything slow.
 */
export async function checkOutputFolder(path: string, option = '--out'): Promise<string> {
  const abs = resolve(path);
  const kind = await kindOf(abs);
  if (kind === 'file' || kind === 'other') throw new PathError(`${option} ${path}: is an existing file; give a folder (it is created when missing)`);
  if (kind === 'dir') {
    if (!(await can(abs, constants.W_OK | constants.X_OK))) throw new PathError(`${option} ${path}: the folder is read-only (permission denied); give a folder you can write to`);
    return abs;
  }
  if (kind === 'denied' || kind === 'loop' || kind === 'notdir') throw new PathError(whyNot(option, path, kind, 'folder'));
  // missing: find the nearest existing parent, which is where the folders are created
  let parent = dirname(abs);
  for (;;) {
    const k = await kindOf(parent);
    if (k === 'dir') break;
    if (k === 'file' || k === 'other' || k === 'notdir') throw new PathError(`${option} ${path}: ${parent} is a file, so the folder cannot be created there; give another path`);
    if (k === 'denied' || k === 'loop') throw new PathError(whyNot(option, path, k, 'folder'));
    const up = dirname(parent);
    if (up === parent) break;
    parent = up;
  }
  if (!(await can(parent, constants.W_OK | constants.X_OK))) throw new PathError(`${option} ${path}: cannot create it, ${parent} is read-only (permission denied); give a folder you can write to`);
  return abs;
}

/**
 * A file to write (`export --onnx model.onnx`): not an existing folder, and its folder either
 * exists and is writable or can be created (as {@link checkOutputFolder}). Checked before anything slow.
 */
export async function checkOutputFile(path: string, option: string): Promise<string> {
  const abs = resolve(path);
  const kind = await kindOf(abs);
  if (kind === 'dir') throw new PathError(`${option} ${path}: is an existing folder; give a file name (e.g. ${join(path, 'model.onnx')})`);
  if (kind === 'other') throw new PathError(`${option} ${path}: not a regular file; give a file name`);
  if (kind === 'file' && !(await can(abs, constants.W_OK))) throw new PathError(`${option} ${path}: the file is read-only (permission denied); give another file name`);
  await checkOutputFolder(dirname(abs), `${option} ${path}: its folder`);
  return abs;
}

/**
 * `--data`: paths that must exist and be readable; with `folder: true` (a dataset root) each must
 * be a folder or a `.npz` file.
 */
export async function checkDataPaths(paths: readonly string[], options: { option?: string; folder?: boolean } = {}): Promise<string[]> {
  const option = options.option ?? '--data';
  const out: string[] = [];
  for (const path of paths) {
    const abs = resolve(path);
    const kind = await kindOf(abs);
    if (kind === 'dir') {
      if (!(await can(abs, constants.R_OK | constants.X_OK))) throw new PathError(`${option} ${path}: the folder cannot be read (permission denied)`);
    } else if (kind === 'file') {
      if (options.folder && !/\.npz$/i.test(abs)) throw new PathError(`${option} ${path}: is a file; give the dataset folder (<root>/<split>/<CLASS>/…) or a MedMNIST .npz`);
      if (!(await can(abs, constants.R_OK))) throw new PathError(`${option} ${path}: the file cannot be read (permission denied)`);
    } else if (kind === 'other') {
      throw new PathError(`${option} ${path}: not a file or a folder`);
    } else {
      throw new PathError(whyNot(option, path, kind, options.folder ? 'dataset folder' : 'file or folder'));
    }
    out.push(abs);
  }
  return out;
}
