import { Redis } from 'ioredis';
import { UsageError } from '@aeflow/eval';

/** A Redis URL that cannot be used, in words (the option, the value, the fix); a usage error (exit code 2). */
export class QueueUrlError extends UsageError {
  constructor(url: string, why: string) {
    super(`--queue ${url}: ${why}; give a Redis URL such as redis://127.0.0.1:6379 (rediss:// for TLS, redis://:password@host:port/db)`);
    this.name = 'QueueUrlError';
  }
}

/** Checks a Redis URL before anything connects (scheme, host, port, database number). */
export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new QueueUrlError(url, 'not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new QueueUrlError(url, `the scheme is "${parsed.protocol}", not redis: or rediss:`);
  if (parsed.hostname === '') throw new QueueUrlError(url, 'no host');
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new QueueUrlError(url, `the database "${db}" is not a number`);
  return parsed;
}

/** The URL without its password, for logs and messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A Redis connection for BullMQ that rides out a Redis restart: commands wait while it reconnects
 * (no per-request retry limit, which BullMQ's workers require anyway) and reconnection keeps
 * trying every ≤ 2 s. `onState` hears 'ready' / 'reconnecting' / 'error', for the progress line.
 */
export function redisConnection(url: string, onState?: (state: 'ready' | 'reconnecting' | 'error', detail?: string) => void): Redis {
  checkRedisUrl(url);
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    // BullMQ's blocking commands must not be cut off by a client-side timeout
    enableReadyCheck: true,
  });
  redis.on('ready', () => onState?.('ready'));
  redis.on('reconnecting', () => onState?.('reconnecting'));
  // ioredis emits 'error' while Redis is down; without a listener Node would print each one
  redis.on('error', (err: Error) => onState?.('error', err.message));
  return redis;
}
