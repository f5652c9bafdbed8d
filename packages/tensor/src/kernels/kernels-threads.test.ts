import { beforeAll, expect } from 'vitest';
import { initBackend } from '../backend-node.js';

// The kernel tests again, on wasm with 2 threads (tfjs's threaded build, the Node default on a
// machine with 2 or more cores): the hand-written kernels split their loops and XNNPACK its
// products across threads, and both must still match cpu. This hook runs before the suite's own
// (registered first); the suite's `initBackend` then finds wasm running and keeps its 2 threads.
beforeAll(async () => {
  const report = await initBackend({ backend: 'wasm', threads: 2, quiet: true });
  expect(report.threads).toBe(2);
});

await import('./kernels.test.js');
