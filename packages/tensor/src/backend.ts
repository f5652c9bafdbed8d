import * as tf from '@tensorflow/tfjs-core';
import { setupTrainingPath } from './kernels/index.js';

/** The backends aeflow knows, in the order `initBackend` tries them. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface InitBackendOptions {
  /** Use exactly this backend (default: `AEFLOW_BACKEND`, else the first that loads). */
  backend?: BackendName;
  /**
   * wasm threads (default: `AEFLOW_THREADS`, else the platform's default: every core in Node
   * through `@aeflow/tensor/node`, tfjs's own setting elsewhere). tfjs switches wasm threads off in
   * Node; aeflow's worker set-up starts them. 1 runs tfjs's single-threaded build.
   */
  threads?: number;
  /** Do not print the one-line report to stderr. */
  quiet?: boolean;
}

export interface BackendReport {
  /** The backend in use. */
  name: BackendName;
  /** Why each backend tried before it was not used (one line each). */
  unavailable: Partial<Record<BackendName, string>>;
  /** wasm threads in use (1 elsewhere). */
  threads: number;
  /** One line for people: which backend and why not the others. */
  summary: string;
}

const TF_BACKEND: Record<BackendName, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

let current: BackendReport | undefined;

/**
 * What only a platform entry can supply: `@aeflow/tensor/node` passes loaders for the native
 * TensorFlow builds and a wasm-threads starter. The main entry runs without them (browsers, and
 * Node scripts that only need wasm or cpu).
 */
export interface BackendPlatform {
  /** Loads (imports) a native build's module; throws when it cannot. */
  loadNative?: (name: 'tensorflow-gpu' | 'tensorflow') => Promise<void>;
  /** Starts the wasm backend with `threads` threads; returns the threads in use. */
  startWasmThreads?: (threads: number) => Promise<number>;
  /** wasm threads when neither the option nor `AEFLOW_THREADS` says (Node: every core). */
  defaultThreads?: () => number;
  /** Where the one-line report goes (default: stderr in Node, console.info elsewhere). */
  log?: (line: string) => void;
}

/** The environment variables, where there are any (Node); never touches `process` in a browser. */
function envVar(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name];
}

function defaultLog(line: string): void {
  const proc = (globalThis as { process?: { stderr?: { write?: (s: string) => unknown } } }).process;
  if (typeof proc?.stderr?.write === 'function') proc.stderr.write(line + '\n');
  else console.info(line);
}

/** Hooks run after a backend is set (the wasm training kernels register here). */
type BackendSetupHook = (name: BackendName, threads: number, platform: BackendPlatform) => Promise<number | void> | number | void;
const setupHooks: BackendSetupHook[] = [];

/** @internal Lets other modules of this package add work at backend start-up. */
export function onBackendSetup(hook: BackendSetupHook): void {
  setupHooks.push(hook);
}

// Gradients everywhere; on wasm the opt-in threads and the training kernels (src/kernels).
onBackendSetup(setupTrainingPath);

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Cannot find (package|module)|Could not resolve/.test(msg)) return 'not installed';
  if (/tfjs_binding\.node/.test(msg)) return 'installed without its native binding (its install script could not download libtensorflow)';
  return (msg.split('\n').find((l) => l.trim().length > 0) ?? 'unknown error').trim().slice(0, 200);
}

export function parseBackendName(value: string, source: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(`${source}: unknown backend "${value}"; use one of ${BACKEND_NAMES.join(', ')}`);
}

/** Most wasm threads aeflow starts (tfjs's pool is sized at start-up; more only costs memory). */
export const MAX_THREADS = 64;

function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new Error(`AEFLOW_THREADS: "${value}" is not a thread count; use a whole number from 1 to ${MAX_THREADS}`);
  }
  return n;
}

/**
 * Loads one backend's module. The native builds come from the platform (`@aeflow/tensor/node`
 * detects them by importing inside try/catch); wasm and cpu are plain packages.
 */
async function load(name: BackendName, platform: BackendPlatform): Promise<void> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      if (!platform.loadNative) throw new Error('native builds load only through initBackend from @aeflow/tensor/node');
      await platform.loadNative(name);
      break;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      break;
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      break;
  }
  const ok = await tf.setBackend(TF_BACKEND[name]);
  if (!ok) throw new Error(`tf.setBackend('${TF_BACKEND[name]}') returned false`);
  await tf.ready();
}

/**
 * Chooses and starts the tensor backend: the one asked for (option or `AEFLOW_BACKEND`), else
 * the first of tensorflow-gpu, tensorflow, wasm, cpu that loads. This browser-safe one never
 * loads the native builds and runs wasm on tfjs's own threads setting; in Node,
 * `initBackend` from `@aeflow/tensor/node` adds both. Prints one line saying which
 * and why the others were not used (unless `quiet`). Calling it again with the same choice is a
 * no-op; with another choice, it switches.
 */
export async function initBackend(preference?: BackendName | InitBackendOptions): Promise<BackendReport> {
  return initBackendOn({}, preference);
}

/**
 * @internal `initBackend` with what a platform entry supplies (`@aeflow/tensor/node` passes the
 * native loaders and the wasm-threads starter).
 */
export async function initBackendOn(platform: BackendPlatform, preference?: BackendName | InitBackendOptions): Promise<BackendReport> {
  const opts: InitBackendOptions = typeof preference === 'string' ? { backend: preference } : (preference ?? {});
  const envBackend = envVar('AEFLOW_BACKEND');
  const asked =
    opts.backend ?? (envBackend ? parseBackendName(envBackend, 'AEFLOW_BACKEND') : undefined);
  const threads = opts.threads ?? parseThreads(envVar('AEFLOW_THREADS')) ?? platform.defaultThreads?.() ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new Error(`initBackend: threads ${threads} is not a thread count; use a whole number from 1 to ${MAX_THREADS}`);
  }
  if (current && (asked === undefined || asked === current.name) && tf.getBackend() === TF_BACKEND[current.name]) {
    return current;
  }
  const candidates: readonly BackendName[] = asked ? [asked] : BACKEND_NAMES;
  const unavailable: Partial<Record<BackendName, string>> = {};
  for (const name of candidates) {
    try {
      await load(name, platform);
    } catch (err) {
      unavailable[name] = firstLine(err);
      continue;
    }
    let used = 1;
    for (const hook of setupHooks) {
      const t = await hook(name, threads, platform);
      if (typeof t === 'number') used = t;
    }
    const why = Object.entries(unavailable)
      .map(([n, r]) => `${n}: ${r}`)
      .join('; ');
    const summary =
      `aeflow: backend ${name}${name === 'wasm' ? ` (${used} thread${used > 1 ? 's' : ''})` : ''}` +
      (why ? ` — not used: ${why}` : asked ? ' (as asked)' : '');
    current = { name, unavailable, threads: used, summary };
    if (!opts.quiet) (platform.log ?? defaultLog)(summary);
    return current;
  }
  const detail = Object.entries(unavailable)
    .map(([n, r]) => `${n}: ${r}`)
    .join('; ');
  throw new Error(
    asked
      ? `backend "${asked}" is not available (${detail}). Unset AEFLOW_BACKEND or pick another of ${BACKEND_NAMES.join(', ')}.`
      : `no tensor backend could start (${detail})`,
  );
}

/** The report of the backend `initBackend` started, if any. */
export function currentBackend(): BackendReport | undefined {
  return current;
}
