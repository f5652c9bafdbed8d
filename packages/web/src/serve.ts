import { preview } from 'vite';

export interface ServeFolderOptions {
  /** Port (default 4173; 0 picks a free one). */
  port?: number;
  /** Default 127.0.0.1: the page is for this machine, not the network. */
  host?: string;
}

export interface ServedFolder {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves a folder of static files (an export) on localhost with Vite's preview server: plain
 * files, correct MIME types (application/wasm for the .wasm files), no build step.
 */
export async function serveFolder(dir: string, options: ServeFolderOptions = {}): Promise<ServedFolder> {
  const server = await preview({
    root: dir,
    configFile: false,
    logLevel: 'silent',
    build: { outDir: dir },
    preview: { port: options.port ?? 4173, strictPort: options.port !== undefined && options.port !== 0, host: options.host ?? '127.0.0.1', open: false },
  });
  const address = server.httpServer.address();
  if (address === null || typeof address === 'string') throw new Error(`serveFolder: the server has no TCP address (${String(address)})`);
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}/`,
    close: () => server.close(),
  };
}
