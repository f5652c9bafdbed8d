import { request } from 'node:http';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serveFolder } from './serve.js';

/** A GET with the path sent as written (fetch would normalise `..` away). */
function rawGet(url: string, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveFolder', () => {
  it('serves the folder’s files with their MIME types (wasm too) and nothing else', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aeflow-web-serve-'));
    const site = join(root, 'site');
    await mkdir(join(site, 'wasm'), { recursive: true });
    await writeFile(join(site, 'index.html'), '<!doctype html><title>page</title>');
    await writeFile(join(site, 'wasm', 'x.wasm'), new Uint8Array([0, 97, 115, 109]));
    await writeFile(join(site, '.secret'), 'hidden');
    await writeFile(join(root, 'outside.txt'), 'not served');
    const served = await serveFolder(site, { port: 0 });
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await fetch(served.url);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await index.text()).toContain('<title>page</title>');
      const wasm = await fetch(new URL('wasm/x.wasm', served.url));
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      expect(new Uint8Array(await wasm.arrayBuffer())).toEqual(new Uint8Array([0, 97, 115, 109]));
      expect((await fetch(new URL('missing.js', served.url))).status).toBe(404);
      expect((await fetch(new URL('.secret', served.url))).status).toBe(404);
      expect((await rawGet(served.url, '/../outside.txt')).body).not.toContain('not served');
      expect((await rawGet(served.url, '/%2e%2e/outside.txt')).body).not.toContain('not served');
      // a port in use is an error naming it, not another port
      const port = Number(new URL(served.url).port);
      await expect(serveFolder(site, { port })).rejects.toThrow(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} .*choose another port`));
    } finally {
      await served.close();
    }
    await expect(fetch(served.url)).rejects.toThrow();
  });
});
