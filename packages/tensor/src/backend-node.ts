import { availableParallelism } from 'node:os';
import { initBackendOn, MAX_THREADS } from './backend.js';
import type { BackendName, BackendPlatform, BackendReport, InitBackendOptions } from './backend.js';
import { startWasmThreads } from './kernels/threads.js';

const NATIVE_MODULE: Record<'tensorflow-gpu' | 'tensorflow', string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

const nodePlatform: BackendPlatform = {
  /**
   * Native builds are detected by importing them inside try/catch, never by resolving: pnpm can
   * leave an optional native package installed without its binding, so it resolves but throws on
   * import.
   */
  async loadNative(name) {
    // A variable specifier: bundlers and tsc must not try to resolve an optional native build.
    await import(/* @vite-ignore */ NATIVE_MODULE[name]);
  },
  startWasmThreads,
  // Every core the process may use: the wasm kernels (XNNPACK) split work across threads without
  // changing results (tested), so one idle core is only lost speed. `AEFLOW_THREADS=1` opts out.
  defaultThreads: () => Math.max(1, Math.min(MAX_THREADS, availableParallelism())),
};

/**
 * `initBackend` for Node: the browser-safe one plus the native TensorFlow builds
 * (`@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`, tried first when installed) and aeflow's
 * wasm threads (tfjs turns them off in Node): every core by default, `threads` /
 * `AEFLOW_THREADS` to choose (1: tfjs's single-threaded build).
 */
export function initBackend(preference?: BackendName | InitBackendOptions): Promise<BackendReport> {
  return initBackendOn(nodePlatform, preference);
}
