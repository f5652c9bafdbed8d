import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidImageError, resizeRaster } from '@aeflow/datasets';
import { decodeImageBytes } from '@aeflow/datasets/node';
import { combineScores, type AEFlow } from '@aeflow/model';
import { loadRun } from '@aeflow/model/node';
import { RunFolder } from '@aeflow/model/node';
import { createImageScorer, type ImageScorer, type ScoreRuntime } from '@aeflow/onnx/node';
import { mapScale, mapToPng, overlayToPng } from '@aeflow/report';

/** Content types `POST /score` takes; the bytes are sniffed, the type only has to be an image one. */
export const ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'image/jpg', 'application/dicom', 'application/octet-stream'] as const;

export interface ScoreServerOptions {
  /** Run folder to load the model from (unless `model` is given). */
  runDir: string;
  /** A loaded model (kept alive; the caller disposes it after `close`). */
  model?: AEFlow;
  /**
   * Where the scores are computed: `tfjs` (default), `onnx` (ONNX Runtime on the model exported in
   * memory) or `auto` (ONNX Runtime wherever onnxruntime-node loads). Same scores within 1e-4.
   */
  runtime?: ScoreRuntime | 'auto';
  /** Largest accepted upload in bytes (default 20 MiB): larger ones get 413 before they are read. */
  maxBytes?: number;
  /** Largest image in pixels before decoding (default 50 Mpx): larger ones get 413. */
  maxPixels?: number;
  /**
   * Requests being decoded or scored at once before new ones get 503 (default 4). A request takes
   * a slot only once its whole body has arrived: a slow or stalled upload holds none.
   */
  maxConcurrent?: number;
  /** Decision threshold on the total score (default: the run's calibration.json (or an older run's threshold.json), else none: label null). */
  threshold?: number | null;
  /** Milliseconds the request line and headers may take to arrive (default 10 s; at most `requestTimeoutMs`): then 408. */
  headersTimeoutMs?: number;
  /** Milliseconds the whole request, headers and body, may take to arrive (default 30 s): then 408. */
  requestTimeoutMs?: number;
  /**
   * Milliseconds an upload may send nothing before it gets 408 (default 10 s); also how long an idle
   * keep-alive connection is kept between requests.
   */
  idleTimeoutMs?: number;
  /** Open connections from one client address (default 16); more are answered 429 and closed. */
  maxConnectionsPerClient?: number;
  /** Open connections in all (default 256; Node drops the ones above). Bounds the memory of uploads being received to about this × `maxBytes`. */
  maxConnections?: number;
  /** Called with one line per request (method, path, status, ms) — for logs. */
  log?: (line: string) => void;
}

export interface RunningScoreServer {
  server: Server;
  /** The model being served (the one given, or the one loaded from `runDir`, disposed by `close`). */
  model: AEFlow;
  /** What computes the scores; `scorer.describe()` is the start-up line (runtime, backend/provider, why). */
  scorer: ImageScorer;
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The client closed the connection before its body arrived: nobody to answer. */
class ClientGoneError extends Error {}

/** Statuses after which the rest of the request is not read, so the connection cannot be reused. */
const CLOSE_AFTER = new Set([408, 413, 429]);

/** Status of an image that cannot be scored, by its error class and code (never by message text). */
export function statusForImageError(err: unknown): number {
  if (err instanceof InvalidImageError) return err.code === 'too-large' ? 413 : 400;
  return 400;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * Reads a request body up to `max` bytes; more is a 413 (the rest is not read). An upload that
 * sends nothing for `idleMs` is a 408; a client that goes away rejects with `ClientGoneError`.
 */
function readBody(req: IncomingMessage, max: number, idleMs: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    let idle: NodeJS.Timeout | undefined;
    const settle = (err: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      if (err) reject(err);
      else resolveBody(body!);
    };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => settle(new HttpError(408, `the upload stalled: nothing arrived for ${idleMs} ms after ${size} bytes; send the whole body without pausing`)), idleMs);
    };
    arm();
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        settle(new HttpError(413, `the upload is larger than ${max} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
      arm();
    });
    req.on('end', () => settle(null, Buffer.concat(chunks)));
    req.on('error', (err) => settle(new ClientGoneError(`the upload failed: ${err.message}`)));
    req.on('close', () => settle(new ClientGoneError('the client closed the connection before the body arrived')));
  });
}

/** A whole HTTP/1.1 response for a socket that has no `ServerResponse` (clientError, connection refused). */
function rawJsonResponse(status: number, text: string, error: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error }) + '\n';
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n${extra}\r\n${body}`;
}

function positiveMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`startScoreServer: ${name} must be a positive number of milliseconds (got ${value})`);
  return value;
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
  let beta = model.beta;
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const maxPixels = options.maxPixels ?? 50_000_000;
  const maxConcurrent = options.maxConcurrent ?? 4;
  const requestTimeoutMs = positiveMs('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
  const headersTimeoutMs = Math.min(positiveMs('headersTimeoutMs', options.headersTimeoutMs ?? 10_000), requestTimeoutMs);
  const idleTimeoutMs = positiveMs('idleTimeoutMs', options.idleTimeoutMs ?? 10_000);
  const maxConnectionsPerClient = options.maxConnectionsPerClient ?? 16;
  if (!Number.isInteger(maxConnectionsPerClient) || maxConnectionsPerClient < 1) throw new Error(`startScoreServer: maxConnectionsPerClient must be a whole number ≥ 1 (got ${maxConnectionsPerClient})`);
  let threshold: number | null = options.threshold ?? null;
  let scorer: ImageScorer;
  try {
    if (options.threshold === undefined) {
      // the run's calibration.json (or a previous release's threshold.json); a malformed one is an
      // error naming it. Its threshold holds at its β only (a site calibration may have refitted β).
      const calibration = await new RunFolder(options.runDir).readCalibration();
      threshold = calibration?.threshold ?? null;
      if (calibration) beta = calibration.beta;
    }
    scorer = await createImageScorer(model, { runtime: options.runtime ?? 'tfjs' });
  } catch (err) {
    if (ownsModel) model.dispose();
    throw err;
  }
  let inFlight = 0;
  let receiving = 0;
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
      const reason = err instanceof InvalidImageError ? err.reason : err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new HttpError(statusForImageError(err), `not a usable image: ${reason}`);
    }
    return runModel(async () => {
      const images = tf.tensor4d(pixels, [1, size, size, 3]);
      try {
        const { scores } = await scorer.score(images);
        const { flow, recon, total: runTotal, residual: data, width, height } = scores[0]!;
        const total = beta === model.beta ? runTotal : combineScores(flow, recon, beta);
        const result = {
          scores: { flow, recon, total },
          predicted: threshold === null ? null : total >= threshold ? 1 : 0,
          label: threshold === null ? null : total >= threshold ? 'anomalous' : 'normal',
          threshold,
          beta,
        };
        let png: Uint8Array | null = null;
        if (heatmap) {
          const residual = { width, height, data };
          png = width === size && height === size ? await overlayToPng({ width: size, height: size, channels: 3, data: pixels }, residual) : await mapToPng(residual, mapScale(residual));
        }
        return { result, png };
      } finally {
        images.dispose();
      }
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET /health');
      sendJson(res, 200, { status: 'ok', model: model.config.model, preset: model.config.preset, size, beta, threshold, inFlight, receiving, maxConcurrent, served, backend: tf.getBackend(), runtime: scorer.runtime });
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
    receiving++;
    let body: Buffer;
    try {
      body = await readBody(req, maxBytes, idleTimeoutMs);
    } finally {
      receiving--;
    }
    if (body.length === 0) throw new HttpError(400, 'the body is empty; send the image bytes');
    // The slot is taken only now: an upload still arriving holds nothing others wait for.
    if (inFlight >= maxConcurrent) throw new HttpError(503, `busy: ${inFlight} requests in flight (limit ${maxConcurrent}); retry shortly`, { 'retry-after': '1' });
    inFlight++;
    let scored: Awaited<ReturnType<typeof score>>;
    try {
      scored = await score(body, wantsHeatmap(url, req));
    } finally {
      inFlight--;
    }
    const { result, png } = scored;
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

  /** The response in progress on each socket, so a request timeout can be answered on it. */
  const responses = new WeakMap<Socket, ServerResponse>();
  /** Sockets over the per-client cap (answered 429 at connect). */
  const refused = new WeakSet<Socket>();
  // Node checks header and request deadlines on a timer (30 s by default): check often enough
  // that a deadline is kept to within a quarter of itself.
  const server = createServer({ requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs, keepAliveTimeout: idleTimeoutMs, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))) }, (req, res) => {
    const t0 = performance.now();
    const finish = (status: number | string) => options.log?.(`${req.method} ${(req.url ?? '').slice(0, 200)} ${status} ${(performance.now() - t0).toFixed(0)}ms`);
    if (refused.has(req.socket)) {
      // over the per-client cap: already answered 429 on the raw socket
      res.destroy();
      return;
    }
    responses.set(req.socket, res);
    handle(req, res)
      .then(finish)
      .catch((err: unknown) => {
        if (err instanceof ClientGoneError) {
          res.destroy();
          finish(res.headersSent ? res.statusCode : 'client gone'); // headers sent: a 408 on request timeout
          return;
        }
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof HttpError ? err.message : `internal error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
        const headers = { ...(err instanceof HttpError ? err.headers : {}), ...(CLOSE_AFTER.has(status) ? { connection: 'close' } : {}) };
        if (!res.headersSent && !res.destroyed) sendJson(res, status, { error: message }, headers);
        else res.destroy();
        finish(status);
      })
      .finally(() => {
        if (responses.get(req.socket) === res) responses.delete(req.socket);
      });
  });
  server.maxConnections = options.maxConnections ?? 256;
  const perClient = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    const open = (perClient.get(client) ?? 0) + 1;
    perClient.set(client, open);
    socket.once('close', () => {
      const left = (perClient.get(client) ?? 1) - 1;
      if (left <= 0) perClient.delete(client);
      else perClient.set(client, left);
    });
    if (open > maxConnectionsPerClient) {
      refused.add(socket);
      socket.on('error', () => undefined);
      socket.end(rawJsonResponse(429, 'Too Many Requests', `too many connections from ${client}: ${open - 1} open (limit ${maxConnectionsPerClient}); reuse a keep-alive connection or retry shortly`, { 'retry-after': '1' }));
      socket.setTimeout(1000, () => socket.destroy());
    }
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const res = responses.get(socket);
    if (timedOut && res && !res.headersSent && !res.destroyed) {
      // the headers arrived, the body did not in time: the handler is still reading it
      sendJson(res, 408, { error: `the request did not arrive within ${requestTimeoutMs} ms; send it faster or raise the server's request timeout` }, { connection: 'close' });
      res.once('finish', () => socket.destroy());
      return;
    }
    if (socket.writable && !res?.headersSent) {
      socket.end(
        timedOut
          ? rawJsonResponse(408, 'Request Timeout', `the request headers did not arrive within ${headersTimeoutMs} ms`)
          : rawJsonResponse(400, 'Bad Request', `malformed HTTP request (${err.code ?? err.message})`),
      );
      socket.setTimeout(1000, () => socket.destroy());
    } else socket.destroy();
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
    model,
    scorer,
    port: address.port,
    url: `http://${host}:${address.port}`,
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await modelQueue;
      await scorer.dispose();
      if (ownsModel) model.dispose();
    },
  };
}
