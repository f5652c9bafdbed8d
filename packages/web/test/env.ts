import type { FixtureRun } from './fixture.js';

/** Why the browser tests are skipped (printed by vitest as the skip reason), or null. */
export const skipReason: string | null = process.env.AEFLOW_WEB_SKIP ?? (process.env.AEFLOW_WEB_FIXTURE ? null : 'the fixture run was not trained (see test/global-setup.ts)');

export function fixture(): FixtureRun {
  const raw = process.env.AEFLOW_WEB_FIXTURE;
  if (!raw) throw new Error(skipReason ?? 'no fixture');
  return JSON.parse(raw) as FixtureRun;
}
