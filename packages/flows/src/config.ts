/**
 * Architecture descriptions (tfjs-layers' convention): every flow layer and built-in subnet has
 * `getClassName()` and `getConfig()`, a JSON-able record of its constructor's settings, and a
 * static `fromConfig(config)`; nested parts (a coupling's subnet, a sequence's layers) appear as
 * `{ className, config }`. Weights are not part of a config: they travel separately, as
 * `getWeights()` records (PyTorch names and layouts, e.g. in a safetensors file).
 */

/** A value a config may hold: what JSON can represent. */
export type FlowConfigValue = number | string | boolean | null | FlowConfigValue[] | { [key: string]: FlowConfigValue };

/** A layer's or subnet's settings (`getConfig()`). */
export type FlowConfig = { [key: string]: FlowConfigValue };

/** A class name and its config: how a layer or subnet is described inside JSON. */
export interface SerializedFlow {
  className: string;
  config: FlowConfig;
}

/**
 * Checks that `config` is a plain object with only the `allowed` keys (a misspelt or foreign
 * key would otherwise be ignored silently), and returns it typed. Values are checked by the
 * constructors, which name the field.
 */
export function readConfig(config: unknown, owner: string, allowed: readonly string[]): FlowConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error(`${owner}: the config must be an object (as getConfig() returns), got ${config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config}`);
  }
  for (const key of Object.keys(config)) {
    if (!allowed.includes(key)) {
      throw new Error(`${owner}: unknown config field "${key}" (known fields: ${allowed.join(', ')})`);
    }
  }
  return config as FlowConfig;
}

/** Checks the `{ className, config }` shape of a serialised layer or subnet. */
export function readSerialized(value: unknown, owner: string): SerializedFlow {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${owner}: expected { className, config } (as serializeFlow() returns), got ${value === null ? 'null' : typeof value}`);
  }
  const { className, config } = value as { className?: unknown; config?: unknown };
  if (typeof className !== 'string' || className === '') {
    throw new Error(`${owner}: field "className" must be a non-empty string, got ${JSON.stringify(className)}`);
  }
  const extra = Object.keys(value).filter((k) => k !== 'className' && k !== 'config');
  if (extra.length > 0) throw new Error(`${owner}: unknown field "${extra[0]}" next to className and config`);
  return { className, config: readConfig(config ?? {}, `${owner} (${className})`, Object.keys(config ?? {})) };
}
