import { Worker } from 'node:worker_threads';
import { HEAP_LOOP_NAMES, HEAP_LOOPS, heapLoopSources } from './heap-loops.js';
import type { HeapLoopName, HeapLoopPool } from './heap-loops.js';

/** Control words in the shared Int32Array. */
const GENERATION = 0; // bumped by the caller for every job (workers sleep on it)
const NEXT = 1; // (generation mod 256) << 23 | the next unclaimed index of the job
const COMPLETED = 2; // indices of the job done so far
const LOOP = 3; // index into HEAP_LOOP_NAMES
const FAILED = 4; // 1 when a range threw
const BY_WORKERS = 5; // indices the workers ran, over all jobs (tests check they take part)
const MAX_PARAMS = 32;
/** NEXT's index while the parameters are being written: past any count, so nobody claims. */
const CLOSED = (1 << 23) - 1;

/**
 * Claims ranges of the current job and runs them, until none is left or the job is no longer
 * `generation` (a worker that woke late must not run a newer job's ranges with older thinking).
 * Used as is by the caller and, as source text, by the workers.
 */
function claimAndRun(ctrl: Int32Array, p: Float64Array, generation: number, run: (from: number, to: number) => void, worker: boolean): void {
  const tag = (generation & 0xff) << 23;
  const count = p[32]!;
  const chunk = p[33]!;
  for (;;) {
    const next = Atomics.load(ctrl, 1);
    if ((next & ~0x7fffff) !== tag) return;
    const from = next & 0x7fffff;
    if (from >= count) return;
    const to = Math.min(count, from + chunk);
    if (Atomics.compareExchange(ctrl, 1, next, tag | to) !== next) continue;
    try {
      run(from, to);
    } catch (err) {
      Atomics.store(ctrl, 4, 1);
      console.error('aeflow heap loop:', err);
    }
    if (worker) Atomics.add(ctrl, 5, to - from);
    Atomics.add(ctrl, 2, to - from);
    Atomics.notify(ctrl, 2);
  }
}

/**
 * The worker: sleeps until a new generation, then claims ranges of the named loop over the wasm
 * memory (a view per job: the memory may have grown). Plain JavaScript, run with `eval: true`; the
 * loops and claimAndRun arrive as source text.
 */
function workerSource(): string {
  return `
const { workerData } = require('node:worker_threads');
const { memory, control, params, sources } = workerData;
const ctrl = new Int32Array(control);
const p = new Float64Array(params);
const loops = sources.map(([, src]) => (0, eval)('(' + src + ')'));
const claimAndRun = (0, eval)('(' + ${JSON.stringify(claimAndRun.toString())} + ')');
let seen = Atomics.load(ctrl, ${GENERATION});
for (;;) {
  Atomics.wait(ctrl, ${GENERATION}, seen);
  seen = Atomics.load(ctrl, ${GENERATION});
  const loop = loops[Atomics.load(ctrl, ${LOOP})];
  const heap = new Float32Array(memory.buffer, 0, memory.buffer.byteLength >> 2);
  claimAndRun(ctrl, p, seen, (from, to) => loop(heap, p, from, to), true);
}
`;
}

/**
 * A pool of `threads − 1` worker threads sharing the threaded wasm build's memory (its buffer is a
 * SharedArrayBuffer). A job's index range is cut into chunks that the caller and the workers
 * claim as they come free, so a worker the OS has not scheduled yet (the machine is busy, or
 * XNNPACK's threads still spin) delays nothing: the caller takes its chunks. Jobs are synchronous,
 * as kernels are: the caller blocks (Atomics.wait) until every index is done. Workers are unref'd,
 * so they never keep Node alive.
 */
export function createHeapLoopPool(memory: WebAssembly.Memory, threads: number): HeapLoopPool {
  if (!(memory.buffer instanceof SharedArrayBuffer)) throw new Error('createHeapLoopPool: the wasm memory is not shared (not the threaded build)');
  const control = new SharedArrayBuffer(4 * 8);
  const params = new SharedArrayBuffer(8 * (MAX_PARAMS + 2));
  const ctrl = new Int32Array(control);
  const p = new Float64Array(params);
  const sources = heapLoopSources();
  const workers = Array.from({ length: threads - 1 }, () => {
    const w = new Worker(workerSource(), { eval: true, workerData: { memory, control, params, sources } });
    w.unref();
    return w;
  });
  const loops = new Map(HEAP_LOOP_NAMES.map((name, i) => [name, i]));
  let running = false;
  let jobs = 0;
  return {
    threads,
    get jobs() {
      return jobs;
    },
    get workerIndices() {
      return Atomics.load(ctrl, BY_WORKERS);
    },
    close(): void {
      for (const w of workers) void w.terminate();
    },
    run(name: HeapLoopName, params: Float64Array, count: number, heap: Float32Array): void {
      if (params.length > MAX_PARAMS) throw new Error(`heap loop ${name}: ${params.length} parameters, at most ${MAX_PARAMS}`);
      if (count >= CLOSED) throw new Error(`heap loop ${name}: ${count} indices, at most ${CLOSED - 1}`);
      if (running) throw new Error(`heap loop ${name}: the pool is already running a job`);
      running = true;
      try {
        const generation = (Atomics.load(ctrl, GENERATION) + 1) | 0;
        const tag = (generation & 0xff) << 23;
        // Lock late workers of the previous job out before the parameters change.
        Atomics.store(ctrl, NEXT, tag | CLOSED);
        p.set(params);
        p[MAX_PARAMS] = count;
        // Several chunks per thread, so that a late thread leaves little for the others.
        p[MAX_PARAMS + 1] = Math.max(1, Math.ceil(count / (4 * threads)));
        Atomics.store(ctrl, LOOP, loops.get(name)!);
        Atomics.store(ctrl, COMPLETED, 0);
        Atomics.store(ctrl, FAILED, 0);
        Atomics.store(ctrl, NEXT, tag);
        Atomics.store(ctrl, GENERATION, generation);
        Atomics.notify(ctrl, GENERATION);
        const loop = HEAP_LOOPS[name];
        claimAndRun(ctrl, p, generation, (from, to) => loop(heap, params, from, to), false);
        for (let done = Atomics.load(ctrl, COMPLETED); done < count; done = Atomics.load(ctrl, COMPLETED)) Atomics.wait(ctrl, COMPLETED, done);
        if (Atomics.load(ctrl, FAILED) !== 0) throw new Error(`heap loop ${name} failed (see stderr)`);
        jobs++;
      } finally {
        running = false;
      }
    },
  };
}
