import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { CpuInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { createHeapLoopPool } from './heap-pool.js';
import { setHeapLoopPool } from './heap-loops.js';
import type { HeapLoopPool } from './heap-loops.js';
import { localRequire } from './require.js';

/** The emscripten module of tfjs's threaded SIMD build, with the `tfjs` bridge BackendWasm expects. */
type ThreadedModule = Extract<BackendWasm['wasm'], { PThread: unknown }>;
type EmscriptenFactory = (config: Record<string, unknown>) => Promise<ThreadedModule>;
interface WasmPackage {
  BackendWasm: new (wasm: ThreadedModule) => BackendWasm;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

interface Unrefable {
  unref?: () => void;
}

let workerDir: string | undefined;

/**
 * tfjs's worker script is shipped as a string for a Blob URL, which Node's `Worker` cannot load:
 * write it to a temporary file once per process (removed at exit).
 */
function workerScriptPath(contents: string): string {
  if (workerDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'aeflow-wasm-threads-'));
    workerDir = dir;
    // The shipped string has real newlines where the script means the escape `\n` (tfjs undoes
    // the same thing before making its Blob).
    writeFileSync(join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js'), contents.replace(/\n/g, '\\n'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return join(workerDir, 'tfjs-backend-wasm-threaded-simd.worker.js');
}

function wasmPackage(): WasmPackage {
  return localRequire('@tensorflow/tfjs-backend-wasm') as WasmPackage;
}

/** The wasm threads in use (1 until the backend starts). */
export function wasmThreadsInUse(): number {
  try {
    return wasmPackage().getThreadsCount();
  } catch {
    return 1;
  }
}

/** Instantiates tfjs's threaded SIMD wasm build in Node and wraps it in a `BackendWasm`. */
async function createThreadedBackend(threads: number): Promise<BackendWasm> {
  const pkgDir = dirname(localRequire.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const wasmPkg = localRequire('@tensorflow/tfjs-backend-wasm') as WasmPackage;
  const mainScript = join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const factory = localRequire(mainScript) as EmscriptenFactory;
  const { wasmWorkerContents } = localRequire(join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const worker = workerScriptPath(wasmWorkerContents);
  // The wasm side sizes its thread pool from emscripten_num_logical_cores() / 2 (it assumes two
  // hyper-threads per core), capped by the count asked for, so on a 2-core machine it would use
  // one thread whatever we ask. Report 2 × threads cores while the module starts, then restore.
  // The CommonJS module object (the one emscripten's require('os') gets), not an ESM namespace.
  const os = localRequire('node:os') as { cpus: () => CpuInfo[] };
  const realCpus = os.cpus;
  const cpus = realCpus();
  os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus[i % Math.max(1, cpus.length)]!);
  try {
    const module = await factory({
      // Workers evaluate the main script from this path (tfjs passes a Blob, which Node cannot import).
      mainScriptUrlOrBlob: mainScript,
      locateFile: (path: string, prefix: string) => (path.endsWith('.worker.js') ? worker : prefix + path),
    });
    const cwrap = (module as unknown as { cwrap: (name: string, ret: string | null, args: string[]) => unknown }).cwrap;
    // The same bridge tfjs's own init() installs.
    (module as unknown as { tfjs: unknown }).tfjs = {
      init: cwrap('init', null, []),
      initWithThreadsCount: cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: cwrap('get_threads_count', 'number', []),
      registerTensor: cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: cwrap('dispose_data', null, ['number']),
      dispose: cwrap('dispose', null, []),
    };
    wasmPkg.setThreadsCount(threads);
    const backend = new wasmPkg.BackendWasm(module);
    // The training kernels' JS loops over the heap run on as many threads (heap-loops.ts).
    const memory = (module as unknown as { wasmMemory?: WebAssembly.Memory }).wasmMemory;
    if (memory) installHeapLoopPool(createHeapLoopPool(memory, threads));
    // The thread pool's workers would keep Node alive after the program's work is done.
    const pool = (module as unknown as { PThread: { unusedWorkers: Unrefable[]; runningWorkers: Unrefable[] } }).PThread;
    for (const w of [...pool.unusedWorkers, ...pool.runningWorkers]) w.unref?.();
    return backend;
  } finally {
    os.cpus = realCpus;
  }
}

let heapPool: HeapLoopPool | undefined;

/** Replaces the heap-loop pool (its workers stop with the backend they served). */
function installHeapLoopPool(next: HeapLoopPool | undefined): void {
  heapPool?.close();
  heapPool = next;
  setHeapLoopPool(next);
}

/**
 * Restarts the `wasm` backend on tfjs's threaded build with `threads` threads.
 *
 * tfjs turns wasm threads off in Node (its worker scripts are Blob URLs, which Node's workers
 * cannot load). This writes the worker script to a temporary file, points the module at it, and
 * re-registers `wasm` with that factory (kernels registered for `wasm` are set up again on the new
 * instance). Must run before any tensor lives on wasm: restarting the backend drops its memory.
 * Returns the threads in use; on any failure it restores the single-thread backend, says why on
 * stderr and returns 1.
 */
export async function startWasmThreads(threads: number): Promise<number> {
  const wasmPkg = wasmPackage();
  if (tf.getBackend() === 'wasm' && wasmPkg.getThreadsCount() === threads) return threads;
  const original = tf.findBackendFactory('wasm');
  // Restarting drops the wasm heap: only buffers on wasm matter (tensors on cpu survive).
  const live = tf.getBackend() === 'wasm' ? tf.backend().numDataIds() : 0;
  if (live > 0) {
    process.stderr.write(
      `aeflow: wasm threads (${threads}) not started: ${live} tensor buffers already live on wasm would be lost; call initBackend({ threads }) before creating tensors. Using ${wasmPkg.getThreadsCount()} thread(s).\n`,
    );
    return wasmPkg.getThreadsCount();
  }
  try {
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => createThreadedBackend(threads), 2);
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new Error('tf.setBackend returned false');
    return wasmPkg.getThreadsCount();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    installHeapLoopPool(undefined);
    tf.removeBackend('wasm');
    tf.registerBackend('wasm', original, 2);
    await tf.setBackend('wasm');
    process.stderr.write(`aeflow: wasm threads (${threads}) could not start (${why.split('\n')[0]}); using 1 thread.\n`);
    return 1;
  }
}
