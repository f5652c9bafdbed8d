import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aeflowHome, isWritableDir, resolveAsset, verifyAsset, writableCacheDir, type AssetFile } from './assets.js';

const payload = new TextEncoder().encode('weights '.repeat(5000));
const sha = createHash('sha256').update(payload).digest('hex');
let server: Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  // A real HTTP server on loopback stands in for the hub: the download code path is the real one.
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/model.safetensors') {
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.end(payload);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('asset cache', () => {
  it('downloads a missing asset, checks its SHA-256, reports progress, then serves it from the cache', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-home-'));
    const file: AssetFile = { path: 'assets/tiny/model.safetensors', url: `${base}/model.safetensors`, sha256: sha };
    const seen: number[] = [];
    const p = await resolveAsset(file, { home, onProgress: (r) => seen.push(r) });
    expect(p).toBe(join(home, 'assets', 'tiny', 'model.safetensors'));
    expect(new Uint8Array(await readFile(p))).toEqual(payload);
    expect(seen.at(-1)).toBe(payload.length);
    const before = hits;
    expect(await resolveAsset(file, { home, verify: true })).toBe(p);
    expect(hits).toBe(before); // no second download
  });

  it('keeps nothing when the checksum does not match', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-home-'));
    const file: AssetFile = { path: 'assets/x/model.safetensors', url: `${base}/model.safetensors`, sha256: '0'.repeat(64) };
    await expect(resolveAsset(file, { home, onProgress: () => undefined })).rejects.toThrow(/expected 0000.*nothing was kept/);
    expect(await readdir(join(home, 'assets', 'x'))).toEqual([]);
  });

  it('says where to put the file when the download fails or is off', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-home-'));
    const missing: AssetFile = { path: 'data/medmnist/none.npz', url: `${base}/nope.npz`, md5: 'a'.repeat(32) };
    await expect(resolveAsset(missing, { home })).rejects.toThrow(/HTTP 404.*Put the file at .*none\.npz/);
    await expect(resolveAsset(missing, { home, download: false })).rejects.toThrow(/downloads are off/);
  });

  it('never writes into an asset home without write bits, even as root (CI mounts the shared data so)', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-ro-'));
    await mkdir(join(home, 'assets'));
    await chmod(home, 0o555);
    await chmod(join(home, 'assets'), 0o555);
    try {
      await expect(
        resolveAsset({ path: 'assets/a/b.bin', url: `${base}/model.safetensors` }, { home, onProgress: () => undefined }),
      ).rejects.toThrow(/cannot be written/);
      expect(await readdir(join(home, 'assets'))).toEqual([]);
      expect(await isWritableDir(home)).toBe(false);
      const old = { home: process.env.AEFLOW_HOME, cache: process.env.AEFLOW_CACHE };
      process.env.AEFLOW_HOME = home;
      delete process.env.AEFLOW_CACHE;
      try {
        const cache = await writableCacheDir();
        expect(cache.startsWith(home)).toBe(false);
        expect(await readdir(home)).toEqual(['assets']);
      } finally {
        if (old.home === undefined) delete process.env.AEFLOW_HOME;
        else process.env.AEFLOW_HOME = old.home;
        if (old.cache !== undefined) process.env.AEFLOW_CACHE = old.cache;
      }
    } finally {
      await chmod(join(home, 'assets'), 0o755);
      await chmod(home, 0o755);
    }
  });

  it('puts caches under a writable asset home', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-rw-'));
    const old = { home: process.env.AEFLOW_HOME, cache: process.env.AEFLOW_CACHE };
    process.env.AEFLOW_HOME = home;
    delete process.env.AEFLOW_CACHE;
    try {
      expect(await writableCacheDir()).toBe(join(home, 'cache'));
    } finally {
      if (old.home === undefined) delete process.env.AEFLOW_HOME;
      else process.env.AEFLOW_HOME = old.home;
      if (old.cache !== undefined) process.env.AEFLOW_CACHE = old.cache;
    }
  });

  it('verifies an existing file only when asked, naming both checksums on mismatch', async () => {
    const home = await mkdtemp(join(tmpdir(), 'aeflow-home-'));
    await mkdir(join(home, 'data'), { recursive: true });
    await writeFile(join(home, 'data', 'local.npz'), 'not the upstream bytes');
    const file: AssetFile = { path: 'data/local.npz', url: `${base}/x`, sha256: sha };
    expect(await resolveAsset(file, { home })).toBe(join(home, 'data', 'local.npz'));
    await expect(verifyAsset(join(home, 'data', 'local.npz'), file)).rejects.toThrow(new RegExp(`expected ${sha}`));
  });

  it('takes the asset home from AEFLOW_HOME', () => {
    const old = process.env.AEFLOW_HOME;
    process.env.AEFLOW_HOME = '/some/where';
    try {
      expect(aeflowHome()).toBe('/some/where');
    } finally {
      if (old === undefined) delete process.env.AEFLOW_HOME;
      else process.env.AEFLOW_HOME = old;
    }
  });
});
