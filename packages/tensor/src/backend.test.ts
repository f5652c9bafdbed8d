import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend as initBrowserSafeBackend, parseBackendName } from './backend.js';
import { initBackend } from './backend-node.js';

describe('initBackend', () => {
  it('falls back past native builds that cannot load, with a one-line reason each, and never to cpu when wasm works', async () => {
    const report = await initBackend({ quiet: true });
    expect(tf.getBackend()).toBe(report.name === 'tensorflow-gpu' ? 'tensorflow' : report.name);
    expect(report.name).not.toBe('cpu');
    for (const reason of Object.values(report.unavailable)) {
      expect(reason).not.toMatch(/\n|\bat \S+:\d+/); // no stack traces
    }
    expect(report.summary).toMatch(/^aeflow: backend /);
    expect(report.summary.includes('\n')).toBe(false);
  });

  it('takes the backend from the option and from AEFLOW_BACKEND', async () => {
    expect((await initBackend({ backend: 'cpu', quiet: true })).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    process.env.AEFLOW_BACKEND = 'wasm';
    try {
      expect((await initBackend({ quiet: true })).name).toBe('wasm');
      expect(tf.getBackend()).toBe('wasm');
    } finally {
      delete process.env.AEFLOW_BACKEND;
    }
  });

  it('rejects unknown names, naming the allowed ones', async () => {
    expect(() => parseBackendName('webgl', 'AEFLOW_BACKEND')).toThrow(/AEFLOW_BACKEND: unknown backend "webgl"; use one of tensorflow-gpu, tensorflow, wasm, cpu/);
    process.env.AEFLOW_BACKEND = 'tpu';
    try {
      await expect(initBackend({ quiet: true })).rejects.toThrow(/unknown backend "tpu"/);
    } finally {
      delete process.env.AEFLOW_BACKEND;
    }
  });

  it('rejects a thread count that is not one, naming AEFLOW_THREADS and the range', async () => {
    const pinned = process.env.AEFLOW_THREADS;
    process.env.AEFLOW_THREADS = '0';
    try {
      await expect(initBackend({ backend: 'wasm', quiet: true })).rejects.toThrow(/AEFLOW_THREADS: "0" is not a thread count; use a whole number from 1 to 64/);
    } finally {
      if (pinned === undefined) delete process.env.AEFLOW_THREADS;
      else process.env.AEFLOW_THREADS = pinned;
    }
    await expect(initBackend({ backend: 'wasm', threads: 1.5, quiet: true })).rejects.toThrow(/threads 1.5 is not a thread count/);
  });

  it('explains a native backend that was asked for but cannot load', async () => {
    let native = true;
    try {
      await import(/* @vite-ignore */ ['@tensorflow', 'tfjs-node-gpu'].join('/'));
    } catch {
      native = false;
    }
    if (native) return; // this machine has the GPU build: nothing to explain
    await expect(initBackend({ backend: 'tensorflow-gpu', quiet: true })).rejects.toThrow(
      /backend "tensorflow-gpu" is not available \(tensorflow-gpu: not installed\)/,
    );
  });

  it('from the browser-safe entry: never loads a native build (says where to get one), still starts wasm with gradients and chained ops', async () => {
    await expect(initBrowserSafeBackend({ backend: 'tensorflow', quiet: true })).rejects.toThrow(
      /backend "tensorflow" is not available \(tensorflow: native builds load only through initBackend from @aeflow\/tensor\/node\)/,
    );
    const report = await initBrowserSafeBackend({ backend: 'wasm', quiet: true });
    expect(report.name).toBe('wasm');
    // tfjs-core's own gradients (not @tensorflow/tfjs's): a conv2d gradient and a chained op.
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const g = tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 1, 'same').square().sum())(tf.ones([1, 1, 1, 1]));
    expect(Array.from(await g.data())).toEqual([2 * (1 + 4 + 9 + 16)]);
    tf.dispose([x, g]);
  });
});
