// Sums the vitest JSON reports of every package and prints one closing line
// ("tests: N passed, N failed, N skipped"); fails when a package ran no test.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];
for (const group of ['packages', 'apps', 'tests']) {
  for (const name of readdirSync(group)) {
    const dir = join(group, name);
    if (!existsSync(join(dir, 'package.json'))) continue;
    const file = join(dir, 'test-results.json');
    if (!existsSync(file)) {
      problems.push(`${dir}: no test-results.json (its tests did not run)`);
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8'));
    const p = r.numPassedTests ?? 0;
    const f = r.numFailedTests ?? 0;
    const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`  ${dir.padEnd(20)} ${p} passed, ${f} failed, ${s} skipped`);
    if (p + f === 0) problems.push(`${dir}: ran no test`);
    passed += p;
    failed += f;
    skipped += s;
  }
}
for (const p of problems) console.error(`test-summary: ${p}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || problems.length > 0 ? 1 : 0);
