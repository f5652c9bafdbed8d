import { request } from 'node:http';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { folderDataset } from '@aeflow/datasets';
import { trainRun } from '@aeflow/model';
import { initBackend } from '@aeflow/tensor';
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

  it('answers 503 when the concurrency limit is reached, then serves again', async () => {
    // Two uploads that have started but not finished hold both slots (limit 2).
    const held = [0, 1].map(() => {
      const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/score', headers: { 'content-type': 'image/png', 'content-length': String(png.length) }, timeout: 30_000 });
      const done = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      req.write(png.subarray(0, 10));
      return { req, done };
    });
    // Wait (bounded) until the server counts both as in flight.
    for (let i = 0; i < 100 && json(await send(server, 'GET', '/health')).inFlight < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const busy = await send(server, 'POST', '/score', png, { 'content-type': 'image/png' });
    expect(busy.status).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(json(busy).error).toMatch(/busy/);
    for (const h of held) h.req.end(png.subarray(10));
    expect(await Promise.all(held.map((h) => h.done))).toEqual([200, 200]);
    const after = await send(server, 'POST', '/score', png, { 'content-type': 'image/png' });
    expect(after.status).toBe(200);
  });
});
