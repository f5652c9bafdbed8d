import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { aeflowVitest } from '../../vitest.shared';

// Browser tests drive Chromium, write exports and share one tiny trained run (test/global-setup.ts):
// one file at a time.
const base = aeflowVitest({ testTimeout: 300_000 });
const globalSetup = [...[base.test?.globalSetup ?? []].flat(), fileURLToPath(new URL('./test/global-setup.ts', import.meta.url))];
export default defineConfig({ ...base, test: { ...base.test, fileParallelism: false, globalSetup, hookTimeout: 300_000 } });
