import { describe, expect, it } from 'vitest';
import { UsageError } from '@aeflow/eval';
import { checkRedisUrl, redactRedisUrl } from './connection.js';

describe('Redis URLs', () => {
  it('accepts redis:// and rediss:// with a database number; refuses the rest in words', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379').port).toBe('6379');
    expect(checkRedisUrl('rediss://:secret@queue.example:6380/2').hostname).toBe('queue.example');
    expect(() => checkRedisUrl('127.0.0.1:6379')).toThrow(/--queue 127\.0\.0\.1:6379: not a URL; give a Redis URL such as redis:\/\/127\.0\.0\.1:6379/);
    expect(() => checkRedisUrl('localhost:6379')).toThrow(/the scheme is "localhost:", not redis: or rediss:/);
    expect(() => checkRedisUrl('http://host:6379')).toThrow(UsageError);
    expect(() => checkRedisUrl('redis://host:6379/queue')).toThrow(/the database "queue" is not a number/);
    expect(() => checkRedisUrl('not a url')).toThrow(/not a URL/);
  });

  it('hides the password in what it prints', () => {
    expect(redactRedisUrl('redis://user:secret@host:6379/1')).toBe('redis://user:***@host:6379/1');
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
