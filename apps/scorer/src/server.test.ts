import { request, type ClientRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { folderDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { initBackend } from '@aeflow/tensor/node';
import { minimalDicom, TINY_CONFIG, writeFolderDataset, writeUnusualImages } from './fixtures.test-helpers.js';
import { startScoreServer, type RunningScoreServer } from './server.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request to the test server (loopback only), with a time limit. */
function send(server: RunningScoreServer, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method, path, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

interface Body {
  scores: { flow: number; recon: number; total: number };
  label: string | null;
  threshold: number | null;
  error: string;
  inFlight: number;
  receiving: number;
}

const json = (r: Reply): Body => JSON.parse(r.body.toString('utf8')) as Body;

let server: RunningScoreServer;
let root: string;
let png: Buffer;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  root = await mkdtemp(join(tmpdir(), 'aeflow-serve-test-'));
  const data = join(root, 'data');
  await writeFolderDataset(data, { train: 8, testNormal: 1, testAnomalous: 1 });
  const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
  await trainRun({ runDir: join(root, 'run'), config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, train: { dataset: train }, cacheDir: null });
  png = await readFile(join(data, 'test', 'PNEUMONIA', 'img_0.png'));
  server = await startScoreServer({ runDir: join(root, 'run'), port: 0, host: '127.0.0.1', maxBytes: 200_000, maxConcurrent: 2, threshold: -0.5 });
});

afterAll(async () => {
  await server?.close();
});

describe('aeflow-score serve', () => {
  it('answers GET /health', async () => {
    const r = await send(server, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ status: 'ok', size: 32, threshold: -0.5, maxConcurrent: 2 });
  });

  it("uses the run's calibration: its threshold at its β (a site calibration may have refitted β)", async () => {
    const runDir = join(root, 'run');
    await writeFile(
      join(runDir, 'calibration.json'),
      JSON.stringify({ beta: 0.25, betaRule: 'fit', threshold: -0.123, thresholdRule: 'best-f1', fittedOn: { split: 'site', images: 10, normal: 5, anomalous: 5 }, date: '2026-12-06T00:00:00.000Z' }),
    );
    const calibrated = await startScoreServer({ runDir, port: 0, host: '127.0.0.1' });
    try {
      const body = json(await send(calibrated, 'POST', '/score', png, { 'content-type': 'image/png' })) as Body & { beta: number };
      expect(body.beta).toBe(0.25);
      expect(body.threshold).toBe(-0.123);
      expect(body.scores.total).toBeCloseTo(0.25 * body.scores.flow + 0.75 * body.scores.recon, 5);
      expect(body.label).toBe(body.scores.total >= -0.123 ? 'anomalous' : 'normal');
    } finally {
      await calibrated.close();
      await rm(join(runDir, 'calibration.json'));
    }
  });

  it('scores a PNG: JSON scores, label and threshold', async () => {
    const r = await send(server, 'POST', '/score', png, { 'content-type': 'image/png' });
    expect(r.status).toBe(200);
    const body = json(r);
    expect(Object.keys(body.scores)).toEqual(['flow', 'recon', 'total']);
    expect(body.scores.total).toBeCloseTo(0.9 * body.scores.flow + 0.1 * body.scores.recon, 5);
    expect(body.threshold).toBe(-0.5);
    expect(body.label).toBe(body.scores.total >= -0.5 ? 'anomalous' : 'normal');
  });

  it('gives the same scores for the same image twice and does not leak tensors', async () => {
    await send(server, 'POST', '/score', png, { 'content-type': 'image/png' });
    const before = tf.memory().numTensors;
    const a = json(await send(server, 'POST', '/score', png, { 'content-type': 'image/png' }));
    const b = json(await send(server, 'POST', '/score', png, { 'content-type': 'image/png' }));
    expect(a.scores).toEqual(b.scores);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('returns the residual heat map as PNG on ?heatmap=1 and on Accept: image/png', async () => {
    for (const [path, headers] of [['/score?heatmap=1', {}], ['/score', { accept: 'image/png' }]] as const) {
      const r = await send(server, 'POST', path, png, { 'content-type': 'image/png', ...headers });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('image/png');
      expect(Number(r.headers['x-aeflow-score'])).toBeLessThan(0);
      const meta = await sharp(r.body).metadata();
      expect([meta.width, meta.height]).toEqual([32, 32]);
    }
  });

  it('--runtime onnx: the same scores as tfjs (1e-4 relative), the same heat map, no tensor left; /health names the runtime', async () => {
    const onnx = await startScoreServer({ runDir: join(root, 'run'), runtime: 'onnx', port: 0, host: '127.0.0.1', threshold: -0.5 });
    try {
      expect(onnx.scorer.describe()).toMatch(/^runtime onnx \(onnxruntime-node [\d.]+, providers cpu, default threads\); asked for$/);
      expect(server.scorer.describe()).toMatch(/^runtime tfjs \(backend wasm, \d+ threads?\); asked for$/); // the library's default
      expect(json(await send(onnx, 'GET', '/health'))).toMatchObject({ status: 'ok', runtime: 'onnx' });
      const want = json(await send(server, 'POST', '/score', png, { 'content-type': 'image/png' }));
      const before = tf.memory().numTensors;
      const got = json(await send(onnx, 'POST', '/score', png, { 'content-type': 'image/png' }));
      expect(tf.memory().numTensors).toBe(before);
      for (const k of ['flow', 'recon', 'total'] as const) expect(Math.abs(got.scores[k] - want.scores[k])).toBeLessThanOrEqual(1e-4 * Math.abs(want.scores[k]) + 1e-7);
      expect(got.label).toBe(want.label);
      const pixelsOf = async (s: RunningScoreServer) => {
        const r = await send(s, 'POST', '/score?heatmap=1', png, { 'content-type': 'image/png' });
        expect(r.headers['content-type']).toBe('image/png');
        return sharp(r.body).raw().toBuffer({ resolveWithObject: true });
      };
      const [a, b] = [await pixelsOf(onnx), await pixelsOf(server)];
      expect([a.info.width, a.info.height]).toEqual([32, 32]);
      // 8-bit colours of the same map: equal up to a rounding step
      expect(Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i]!)))).toBeLessThanOrEqual(1);
    } finally {
      await onnx.close();
    }
  });

  it('scores JPEG, DICOM and unusual PNG/JPEG uploads', async () => {
    const files = await writeUnusualImages(join(root, 'unusual'));
    for (const f of files) {
      const type = /\.png$/i.test(f) ? 'image/png' : 'image/jpeg';
      const r = await send(server, 'POST', '/score', await readFile(f), { 'content-type': type });
      expect(r.status, `${f}: ${r.body.toString()}`).toBe(200);
    }
    const dcm = minimalDicom(20, 24, (i) => (i * 7) % 4096);
    const r = await send(server, 'POST', '/score', dcm, { 'content-type': 'application/dicom' });
    expect(r.status, r.body.toString()).toBe(200);
    expect(typeof json(r).scores.total).toBe('number');
    // compressed DICOM as PACS exports it (fixtures of @aeflow/datasets, made with DCMTK and GDCM)
    const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'packages', 'datasets', 'fixtures', 'dicom');
    for (const name of ['mono16.jpegls.dcm', 'mono16.j2k.dcm', 'rgb8.jpeg-baseline.dcm', 'mono16.rle.dcm']) {
      const c = await send(server, 'POST', '/score', await readFile(join(fixtures, name)), { 'content-type': 'application/dicom' });
      expect(c.status, `${name}: ${c.body.toString()}`).toBe(200);
    }
  });

  it('answers bad requests with a 4xx and a reason, and keeps serving', async () => {
    const cases: [string, string, Buffer | string | undefined, Record<string, string>, number, RegExp][] = [
      ['POST', '/score', 'definitely not an image', { 'content-type': 'image/png' }, 400, /not a usable image/],
      ['POST', '/score', png.subarray(0, 60), { 'content-type': 'image/png' }, 400, /not a usable image/],
      ['POST', '/score', '', { 'content-type': 'image/png' }, 400, /empty/],
      ['POST', '/score', png, { 'content-type': 'text/plain' }, 415, /content-type "text\/plain" is not accepted/],
      ['POST', '/score', png, {}, 415, /content-type "\(none\)"/],
      ['POST', '/score', Buffer.alloc(300_000, 1), { 'content-type': 'image/png' }, 413, /larger than 200000 bytes/],
      ['GET', '/score', undefined, {}, 405, /use POST \/score/],
      ['POST', '/health', 'x', {}, 405, /GET \/health/],
      ['GET', '/../../etc/passwd', undefined, {}, 404, /no such endpoint/],
      ['GET', '/nothing', undefined, {}, 404, /no such endpoint/],
    ];
    for (const [method, path, body, headers, status, reason] of cases) {
      const r = await send(server, method, path, body, headers);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(json(r).error).toMatch(reason);
    }
    // a body larger than the limit without a content-length (chunked) is cut off too
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/score', headers: { 'content-type': 'image/png', 'transfer-encoding': 'chunked' }, timeout: 30_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (e) => (e.message.includes('EPIPE') || e.message.includes('ECONNRESET') ? resolve(413) : reject(e)));
      for (let i = 0; i < 5; i++) req.write(Buffer.alloc(60_000, 2));
      req.end();
    });
    expect(chunked).toBe(413);
    const ok = await send(server, 'POST', '/score', png, { 'content-type': 'image/png' });
    expect(ok.status).toBe(200);
  });

  it('answers 503 when every slot is taken by a request being scored, then serves again', async () => {
    // A large image of one colour: a small upload whose decoding takes a while, so twelve sent at
    // once overlap on the server (limit 2). Which ones get 503 is up to timing; that some do is not.
    const big = await sharp({ create: { width: 2500, height: 2500, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toBuffer();
    const local = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', maxConcurrent: 2, maxPixels: 10_000_000, threshold: -0.5 });
    try {
      const replies = await Promise.all(Array.from({ length: 12 }, () => send(local, 'POST', '/score', big, { 'content-type': 'image/png' })));
      const statuses = replies.map((r) => r.status);
      expect(statuses.every((s) => s === 200 || s === 503), statuses.join(' ')).toBe(true);
      expect(statuses.filter((s) => s === 503).length, statuses.join(' ')).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200).length, statuses.join(' ')).toBeGreaterThanOrEqual(2);
      const busy = replies.find((r) => r.status === 503)!;
      expect(busy.headers['retry-after']).toBe('1');
      expect(json(busy).error).toMatch(/busy: 2 requests in flight \(limit 2\)/);
      expect((await send(local, 'POST', '/score', png, { 'content-type': 'image/png' })).status).toBe(200);
    } finally {
      await local.close();
    }
  });

  it('gives a DICOM without pixel data 400 with the reason, and a DICOM above the pixel limit 413 (by error class, not message)', async () => {
    const noPixels = minimalDicom(20, 24, () => 0);
    // cut the file just before the Pixel Data element: Rows/Columns stay, Pixel Data is gone
    const cut = noPixels.subarray(0, noPixels.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00])));
    const r = await send(server, 'POST', '/score', cut, { 'content-type': 'application/dicom' });
    expect(r.status, r.body.toString()).toBe(400);
    expect(json(r).error).toMatch(/no image \(Rows, Columns or Pixel Data missing\)/);
    const huge = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', maxPixels: 100, threshold: -0.5 });
    try {
      const big = await send(huge, 'POST', '/score', minimalDicom(20, 24, (i) => i), { 'content-type': 'application/dicom' });
      expect(big.status, big.body.toString()).toBe(413);
      expect(json(big).error).toMatch(/above the limit/);
    } finally {
      await huge.close();
    }
  });
});

interface Held {
  req: ClientRequest;
  /** The status the server answered with, or the client-side error's code. */
  done: Promise<number | string>;
}

/** An upload that sends its headers and the first 10 bytes of a PNG body, then nothing. */
function stalledUpload(port: number, localAddress = '127.0.0.1'): Held {
  const req = request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/score', headers: { 'content-type': 'image/png', 'content-length': String(png.length) } });
  const done = new Promise<number | string>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  req.write(png.subarray(0, 10));
  return { req, done };
}

/** Bounded wait until `check` holds (polls; fails the test after `ms`). */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('aeflow-score serve under slow clients', () => {
  const short = { headersTimeoutMs: 800, requestTimeoutMs: 4000, idleTimeoutMs: 1200 };

  it('stalled uploads (more than --max-concurrent) hold no slot: every valid request gets 200, the stalled ones 408', async () => {
    const local = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', maxConcurrent: 2, threshold: -0.5, ...short });
    const held: Held[] = [];
    try {
      for (let i = 0; i < 5; i++) held.push(stalledUpload(local.port));
      await until(async () => json(await send(local, 'GET', '/health')).receiving === 5, 5000, 'five uploads being received');
      for (let i = 0; i < 4; i++) {
        const r = await send(local, 'POST', '/score', png, { 'content-type': 'image/png' });
        expect(r.status, r.body.toString()).toBe(200);
      }
      const pair = await Promise.all([0, 1].map(() => send(local, 'POST', '/score', png, { 'content-type': 'image/png' })));
      expect(pair.map((r) => r.status)).toEqual([200, 200]);
      // the stalled uploads are answered 408 once they have sent nothing for idleTimeoutMs
      expect(await Promise.all(held.map((h) => h.done))).toEqual([408, 408, 408, 408, 408]);
      const health = json(await send(local, 'GET', '/health'));
      expect([health.receiving, health.inFlight]).toEqual([0, 0]);
    } finally {
      for (const h of held) h.req.destroy();
      await local.close();
    }
  });

  it('answers 408 to an upload that keeps trickling past the request timeout', async () => {
    const local = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', threshold: -0.5, ...short, requestTimeoutMs: 1500 });
    const upload = stalledUpload(local.port);
    let sent = 10;
    const drip = setInterval(() => {
      if (sent < png.length - 1) upload.req.write(png.subarray(sent, ++sent));
    }, 100);
    try {
      const t0 = Date.now();
      expect(await upload.done).toBe(408);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect((await send(local, 'POST', '/score', png, { 'content-type': 'image/png' })).status).toBe(200);
    } finally {
      clearInterval(drip);
      upload.req.destroy();
      await local.close();
    }
  });

  it('answers 408 to a client whose headers never finish', async () => {
    const local = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', threshold: -0.5, ...short });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(local.port, '127.0.0.1', () => socket.write('POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: image/png\r\n'));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        setTimeout(() => socket.destroy(), 10_000).unref();
      });
      expect(reply).toMatch(/^HTTP\/1\.1 408 /);
      expect(reply).toMatch(/headers did not arrive within 800 ms/);
    } finally {
      await local.close();
    }
  });

  it('caps connections per client address with 429; other clients are still served', async () => {
    const local = await startScoreServer({ runDir: join(root, 'run'), model: server.model, port: 0, host: '127.0.0.1', threshold: -0.5, maxConnectionsPerClient: 2, ...short });
    const held: Held[] = [];
    try {
      // 127.0.0.2 is another loopback address: the server sees a second client
      for (let i = 0; i < 2; i++) held.push(stalledUpload(local.port, '127.0.0.2'));
      await until(async () => json(await send(local, 'GET', '/health')).receiving === 2, 5000, 'two uploads being received');
      const third = stalledUpload(local.port, '127.0.0.2');
      held.push(third);
      expect(await third.done).toBe(429);
      const ok = await send(local, 'POST', '/score', png, { 'content-type': 'image/png' });
      expect(ok.status).toBe(200);
    } finally {
      for (const h of held) h.req.destroy();
      await local.close();
    }
  });
});
