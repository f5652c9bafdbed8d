// A throw-away redis-server for the queue tests (shared with the scorer's: tests/test-fixtures).
export { redisUnavailable, startTestRedis, type TestRedis } from '@aeflow/test-fixtures';
