import { createServer, type Server } from 'node:http';
import sirv from 'sirv';

export interface ServeFolderOptions {
  /** Port (default 4173, or a free one when 4173 is taken; 0 picks a free one; any other is used or fails). */
  port?: number;
  /** Default 127.0.0.1: the page is for this machine, not the network. */
  host?: string;
}

export interface ServedFolder {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_PORT = 4173;

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Serves a folder of static files (an export) on this machine with sirv: plain files with their
 * MIME types (application/wasm for the .wasm files, which streaming compilation needs), no
 * directory listings, no dot-files, 404 for anything else. Nothing is built or rewritten.
 */
export async function serveFolder(dir: string, options: ServeFolderOptions = {}): Promise<ServedFolder> {
  const host = options.host ?? '127.0.0.1';
  const files = sirv(dir, { dev: false, etag: true, dotfiles: false });
  const server = createServer((req, res) => {
    files(req, res, () => {
      res.statusCode = 404;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end('not found\n');
    });
  });
  try {
    await listen(server, options.port ?? DEFAULT_PORT, host);
  } catch (err) {
    // the default port taken (another export being served): any free one; a port asked for is not replaced
    if (options.port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      throw new Error(`serveFolder: cannot listen on ${host}:${options.port ?? DEFAULT_PORT} (${(err as Error).message}); choose another port`);
    }
    await listen(server, 0, host);
  }
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error(`serveFolder: the server has no TCP address (${String(address)})`);
  return {
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // keep-alive connections (a browser's) would hold close() open
        server.closeAllConnections();
      }),
  };
}
