// The trainer's benchmark: `aeflow-train bench` (issue 7's command) through the CLI, as a user runs it.
//   pnpm --filter @aeflow/trainer bench        (after pnpm build)
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/main.js';

const args = ['bench', '--encoder', 'wide_resnet50_2', '--random-weights', '--size', '64', '--batch', '8', '--steps', '5', '--quiet', '--backend', process.env.AEFLOW_BACKEND ?? 'wasm'];
const lines: string[] = [];
const code = await main(args, { out: (l) => lines.push(l), err: (l) => console.error(l) });
if (code !== 0) process.exit(code);
const result = JSON.parse(lines.at(-1)!) as Record<string, number | string>;
console.log(JSON.stringify(result));
const f = (k: string) => (typeof result[k] === 'number' ? (result[k]).toFixed(2) : String(result[k]));
const md = `## @aeflow/trainer

\`pnpm train ${args.join(' ')}\` (median of 5 timed steps after a warm-up; ${cpus().length} cores, backend ${result.backend})

| train images/s (feature cache) | train images/s (no cache) | score images/s | peak RSS MiB | train GFLOP/s | score GFLOP/s |
|---|---|---|---|---|---|
| ${f('train_images_per_s')} | ${f('train_images_per_s_no_cache')} | ${f('score_images_per_s')} | ${f('peak_rss_mb')} | ${f('train_gflops')} | ${f('score_gflops')} |

PyTorch 1.13 CPU on the same kind of machine: 0.63 train and 1.65 score images/s (issue 7).
`;
await writeFile(join(fileURLToPath(new URL('.', import.meta.url)), 'RESULTS.md'), md);
