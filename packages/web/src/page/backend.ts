import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** Backends in the order tried: the fastest that starts wins. */
export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export interface BackendChoice {
  name: PageBackend;
  /** Why each backend before the chosen one did not start. */
  skipped: { name: PageBackend; reason: string }[];
}

function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 160);
}

/** A WebGL renderer that is the CPU in disguise (SwiftShader, llvmpipe): slower than wasm by ~20× here. */
const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software/i;

/** Why a backend cannot start, or should not, here — before trying it (tfjs would only log a warning). */
async function unavailable(name: PageBackend): Promise<string | null> {
  if (name === 'webgpu') {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return 'this browser has no WebGPU';
    if ((await gpu.requestAdapter().catch(() => null)) === null) return 'no WebGPU adapter (no usable GPU)';
  }
  if (name === 'webgl') {
    const canvas = document.createElement('canvas');
    const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
    if (!gl) return 'no WebGL context (GPU disabled or blocked)';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    const soft = SOFTWARE_GL.exec(renderer);
    if (soft) return `software renderer (${soft[0]}), slower than wasm`;
  }
  return null;
}

/**
 * Starts the first of WebGPU, WebGL and wasm that works (or only `only`, e.g. from `?backend=wasm`).
 * The wasm files are served by the page's own origin (`wasm/` beside index.html): nothing is
 * fetched from a CDN, which the page's Content-Security-Policy would refuse anyway.
 */
export async function startBackend(wasmDir: string, only?: PageBackend): Promise<BackendChoice> {
  setWasmPaths(wasmDir);
  const skipped: BackendChoice['skipped'] = [];
  for (const name of only ? [only] : PAGE_BACKENDS) {
    const why = only ? null : await unavailable(name);
    if (why) {
      skipped.push({ name, reason: why });
      continue;
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // a tiny op proves the backend computes (a blocklisted GPU may start and then fail)
        const probe = tf.tidy(() => tf.sum(tf.mul(tf.tensor1d([1, 2, 3]), 2)));
        const value = (await probe.data())[0];
        probe.dispose();
        if (value !== 12) throw new Error(`self-test gave ${value}, expected 12`);
        return { name, skipped };
      }
      skipped.push({ name, reason: 'failed to initialise' });
    } catch (err) {
      skipped.push({ name, reason: reasonOf(err) });
    }
  }
  throw new Error(`no TensorFlow.js backend started: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

/** `?backend=webgl` (tests and benchmarks pin one); anything else is an error, not ignored. */
export function backendFromQuery(search: string): PageBackend | undefined {
  const value = new URLSearchParams(search).get('backend');
  if (value === null || value === '') return undefined;
  if ((PAGE_BACKENDS as readonly string[]).includes(value)) return value as PageBackend;
  throw new Error(`?backend=${value}: expected one of ${PAGE_BACKENDS.join(', ')}`);
}
