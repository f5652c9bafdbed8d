// The shared synthetic test data (tests/fixtures).
export * from '@aeflow/test-fixtures';
