/**
 * Lets timers, I/O callbacks and signal handlers run. A cached step needs no I/O and, on wasm,
 * `tensor.data()` resolves as a microtask, so without this a whole epoch is one chain of
 * microtasks: Ctrl-C and progress timers would wait for the epoch's end. Costs microseconds.
 * (Node's setImmediate; in a browser, a zero-delay timer.)
 */
export function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(() => resolve()) : setTimeout(resolve, 0)));
}
