import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Why the Redis tests cannot run here (no `redis-server` on PATH), or null when they can.
 * Debian's package: `apt-get install -y redis-server` (scripts/bootstrap.sh does it when root).
 */
export function redisUnavailable(): string | null {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' });
    return null;
  } catch {
    return 'redis-server is not installed (apt-get install -y redis-server, or run scripts/bootstrap.sh as root): the queue tests that need a real Redis are skipped';
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  /** Stops Redis (its data is lost: no persistence) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A throw-away redis-server on a free port, its files in a temp folder, nothing persisted. */
export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'aeflow-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolveStart, reject) => {
      const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on port ${port} in 10 s: ${out}`)), 10_000);
      c.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/ready to accept connections/i.test(out)) {
          clearTimeout(timer);
          resolveStart();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}) before it was ready: ${out}`));
      });
    });
  const stop = () =>
    new Promise<void>((resolveStop) => {
      const c = child;
      if (!c || c.exitCode !== null) return resolveStop();
      c.removeAllListeners('exit');
      c.once('exit', () => resolveStop());
      c.kill('SIGTERM');
    });
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      await stop();
      await start();
    },
    stop,
  };
}
