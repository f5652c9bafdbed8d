import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeImageBytes, InvalidImageError, resizeRaster } from '@aeflow/datasets';
import { loadRun, type AEFlow } from '@aeflow/model';
import { mapScale, mapToPng, overlayToPng } from './images.js';
import { OUTPUT_FILES, type ThresholdFile } from './outputs.js';

/** Content types `POST /score` takes; the bytes are sniffed, the type only has to be an image one. */
export const ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'image/jpg', 'application/dicom', 'application/octet-stream'] as const;

export interface ScoreServerOptions {
  /** Run folder to load the model from (unless `model` is given). */
  runDir: string;
  /** A loaded model (kept alive; the caller disposes it after `close`). */
  model?: AEFlow;
  /** Largest accepted upload in bytes (default 20 MiB): larger ones get 413 before they are read. */
  maxBytes?: number;
  /** Largest image in pixels before decoding (default 50 Mpx): larger ones get 413. */
  maxPixels?: number;
  /** Requests in flight (decoding or waiting for the model) before new ones get 503 (default 4). */
  maxConcurrent?: number;
  /** Decision threshold on the total score (default: the run's threshold.json, else none: label null). */
  threshold?: number | null;
  /** Milliseconds a request may take to arrive (default 30 s). */
  requestTimeoutMs?: number;
  /** Called with one line per request (method, path, status, ms) — for logs. */
  log?: (line: string) => void;
}

export interface RunningScoreServer {
  server: Server;
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** Reads a request body up to `max` bytes; more is a 413 (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        reject(new HttpError(413, `the upload is larger than ${max} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolveBody(Buffer.concat(chunks));
      }
    });
    req.on('error', (err) => {
      if (!done) {
        done = true;
        reject(new HttpError(400, `the upload failed: ${err.message}`));
      }
    });
  });
}

function wantsHeatmap(url: URL, req: IncomingMessage): boolean {
  const q = url.searchParams.get('heatmap');
  if (q !== null) return q === '' || q === '1' || q === 'true';
  const accept = req.headers.accept ?? '';
  return /image\/png/i.test(accept) && !/application\/json/i.test(accept);
}

/**
 * The scoring service on node:http. `POST /score` with an image body (PNG, JPEG or DICOM; the
 * bytes are sniffed) answers `{scores: {flow, recon, total}, label, predicted, threshold, beta}`,
 * or with `?heatmap=1` (or `Accept: image/png`) the residual heat map over the image as PNG, the
 * scores in `X-Aeflow-*` headers. `GET /health` says whether the model is loaded. Nothing from a
 * request is used as a path: uploads are decoded from memory.
 */
export async function startScoreServer(options: ScoreServerOptions & { port?: number; host?: string }): Promise<RunningScoreServer> {
  const model = options.model ?? (await loadRun(options.runDir));
  const ownsModel = !options.model;
  const size = model.config.size;
  const beta = model.beta;
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const maxPixels = options.maxPixels ?? 50_000_000;
  const maxConcurrent = options.maxConcurrent ?? 4;
  let threshold: number | null = options.threshold ?? null;
  if (options.threshold === undefined) {
    try {
      const saved = JSON.parse(await readFile(join(options.runDir, OUTPUT_FILES.threshold), 'utf8')) as ThresholdFile;
      threshold = typeof saved.threshold === 'number' ? saved.threshold : null;
    } catch {
      threshold = null;
    }
  }
  let inFlight = 0;
  let served = 0;
  // The model runs one request at a time (one tensor backend); decoding overlaps.
  let modelQueue: Promise<unknown> = Promise.resolve();
  const runModel = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = modelQueue.then(fn, fn);
    modelQueue = next.catch(() => undefined);
    return next;
  };

  const score = async (body: Buffer, heatmap: boolean) => {
    let pixels: Float32Array;
    try {
      const raster = await decodeImageBytes(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), 'upload', maxPixels);
      pixels = resizeRaster(raster, { size, channels: 3 });
    } catch (err) {
      if (err instanceof InvalidImageError) {
        const status = /pixel|too large|limit/i.test(err.reason) ? 413 : 400;
        throw new HttpError(status, `not a usable image: ${err.reason}`);
      }
      throw new HttpError(400, `not a usable image: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    return runModel(async () => {
      const images = tf.tensor4d(pixels, [1, size, size, 3]);
      const s = model.scoreTensors(images);
      try {
        const [f, r, t] = await Promise.all([s.flow.data(), s.recon.data(), s.total.data()]);
        const total = t[0]!;
        const result = {
          scores: { flow: f[0]!, recon: r[0]!, total },
          predicted: threshold === null ? null : total >= threshold ? 1 : 0,
          label: threshold === null ? null : total >= threshold ? 'anomalous' : 'normal',
          threshold,
          beta,
        };
        let png: Buffer | null = null;
        if (heatmap) {
          const [, h, w] = s.residual.shape;
          const residual = { width: w, height: h, data: (await s.residual.data()) as Float32Array };
          png = w === size && h === size ? await overlayToPng({ width: size, height: size, channels: 3, data: pixels }, residual) : await mapToPng(residual, mapScale(residual));
        }
        return { result, png };
      } finally {
        tf.dispose([images, s.flow, s.recon, s.total, s.residual]);
      }
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET /health');
      sendJson(res, 200, { status: 'ok', model: model.config.model, preset: model.config.preset, size, beta, threshold, inFlight, maxConcurrent, served, backend: tf.getBackend() });
      return 200;
    }
    if (url.pathname !== '/score') throw new HttpError(404, `no such endpoint ${url.pathname}; use POST /score or GET /health`);
    if (req.method !== 'POST') throw new HttpError(405, 'use POST /score with the image as the body');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!(ACCEPTED_TYPES as readonly string[]).includes(type)) {
      throw new HttpError(415, `content-type "${type || '(none)'}" is not accepted; send the image bytes as ${ACCEPTED_TYPES.join(', ')}`);
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) throw new HttpError(413, `the upload (${declared} bytes) is larger than ${maxBytes} bytes`);
    const body = await readBody(req, maxBytes);
    if (body.length === 0) throw new HttpError(400, 'the body is empty; send the image bytes');
    const { result, png } = await score(body, wantsHeatmap(url, req));
    served++;
    if (png) {
      res.writeHead(200, {
        'content-type': 'image/png',
        'content-length': png.length,
        'cache-control': 'no-store',
        'x-aeflow-score': String(result.scores.total),
        'x-aeflow-flow': String(result.scores.flow),
        'x-aeflow-recon': String(result.scores.recon),
        'x-aeflow-label': String(result.label),
        'x-aeflow-threshold': String(result.threshold),
      });
      res.end(png);
    } else {
      sendJson(res, 200, result);
    }
    return 200;
  };

  const server = createServer((req, res) => {
    const t0 = performance.now();
    const finish = (status: number) => options.log?.(`${req.method} ${(req.url ?? '').slice(0, 200)} ${status} ${(performance.now() - t0).toFixed(0)}ms`);
    if (inFlight >= maxConcurrent && req.url?.startsWith('/score')) {
      req.resume();
      sendJson(res, 503, { error: `busy: ${inFlight} requests in flight (limit ${maxConcurrent}); retry shortly` }, { 'retry-after': '1', connection: 'close' });
      finish(503);
      return;
    }
    inFlight++;
    handle(req, res)
      .then(finish)
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof HttpError ? err.message : `internal error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
        if (!res.headersSent) sendJson(res, status, { error: message }, status === 413 ? { connection: 'close' } : {});
        else res.destroy();
        finish(status);
      })
      .finally(() => {
        inFlight--;
      });
  });
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.headersTimeout = Math.min(server.requestTimeout, 20_000);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    port: address.port,
    url: `http://${host}:${address.port}`,
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await modelQueue;
      if (ownsModel) model.dispose();
    },
  };
}
