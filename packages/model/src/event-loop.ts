/**
 * Lets timers, I/O callbacks and signal handlers run. A cached step needs no I/O and, on wasm,
 * `tensor.data()` resolves as a microtask, so without this a whole epoch is one chain of
 * microtasks: Ctrl-C and progress timers would wait for the epoch's end. Costs microseconds.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

