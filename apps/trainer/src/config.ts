import { readFile } from 'node:fs/promises';
import { ConfigError, PRESET_NAMES, resolveConfig, type RunConfig } from '@aeflow/model';

/**
 * `--set key=value`: the value is read as JSON when it parses (numbers, true/false, null, arrays,
 * objects, quoted strings), else kept as a plain string — so `--set flow.subnet=resnet` and
 * `--set train.lr=1e-3` both work. The dotted key becomes nested objects.
 */
export function parseSetValue(raw: string): unknown {
  const text = raw.trim();
  if (text === '') return '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return raw;
  }
}

/** Folds `key=value` assignments into a nested overrides object (later ones win). */
export function parseSetArgs(assignments: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new ConfigError([`"${a}" is not key=value (e.g. --set train.lr=0.001 or --set flow.subnet=resnet)`], '--set');
    const path = a.slice(0, eq).trim().split('.');
    if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
      throw new ConfigError([`"${a.slice(0, eq)}" is not a dotted key (e.g. train.lr)`], '--set');
    }
    let node = out;
    for (const p of path.slice(0, -1)) {
      const next = node[p];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = parseSetValue(a.slice(eq + 1));
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep merge of overrides: objects merge key by key, anything else replaces. */
export function mergeOverrides(...layers: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const cur = out[k];
      out[k] = isPlainObject(cur) && isPlainObject(v) ? mergeOverrides(cur, v) : v;
    }
  }
  return out;
}

export interface ConfigSources {
  preset?: string;
  /** Path of a JSON file with a full or partial configuration. */
  configFile?: string;
  set?: readonly string[];
  seed?: number;
}

/**
 * The run's configuration from the CLI's sources, lowest first: the preset (`--preset`, default
 * `cpu`), the `--config` file, the `--set` assignments, `--seed`. Validated by @aeflow/model's
 * schema: an unknown key or a wrong type is a ConfigError naming it and what is allowed.
 */
export async function buildConfig(sources: ConfigSources): Promise<{ overrides: Record<string, unknown>; config: RunConfig }> {
  if (sources.preset !== undefined && !(PRESET_NAMES as readonly string[]).includes(sources.preset)) {
    throw new ConfigError([`preset: "${sources.preset}" is not a preset; use one of ${PRESET_NAMES.join(', ')}`], '--preset');
  }
  let fromFile: Record<string, unknown> = {};
  if (sources.configFile) {
    let text: string;
    try {
      text = await readFile(sources.configFile, 'utf8');
    } catch (err) {
      throw new ConfigError([`cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`], sources.configFile);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch (err) {
      throw new ConfigError([`not valid JSON: ${(err as Error).message}`], sources.configFile);
    }
    if (!isPlainObject(parsed)) throw new ConfigError(['the file must hold one JSON object of settings'], sources.configFile);
    fromFile = parsed;
  }
  const layers: Record<string, unknown>[] = [fromFile];
  if (sources.preset !== undefined) layers.unshift({ preset: sources.preset });
  // A preset named in the file wins over the default, but --preset given explicitly wins over the file.
  if (sources.preset !== undefined && fromFile.preset !== undefined && fromFile.preset !== sources.preset) {
    layers.push({ preset: sources.preset });
  }
  layers.push(parseSetArgs(sources.set ?? []));
  if (sources.seed !== undefined) layers.push({ train: { seed: sources.seed } });
  const overrides = mergeOverrides(...layers);
  const source = [sources.configFile, (sources.set ?? []).length > 0 ? '--set' : undefined].filter(Boolean).join(' + ') || 'config';
  return { overrides, config: resolveConfig(overrides, source) };
}
