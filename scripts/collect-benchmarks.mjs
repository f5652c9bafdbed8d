// Collects each package's bench/RESULTS.md (written by `pnpm bench` in that package) into
// BENCHMARKS.md at the root, with the machine it ran on.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const order = ['tensor', 'metrics', 'flows', 'backbone', 'datasets', 'decoder', 'model', 'onnx', 'trainer', 'scorer', 'queue', 'web'];
const sections = [];
for (const group of ['packages', 'apps']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) {
    const file = join(group, name, 'bench', 'RESULTS.md');
    if (existsSync(file)) sections.push({ name, text: readFileSync(file, 'utf8').trim() });
  }
}
sections.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
// The side-by-side with PyTorch is run by hand (it needs Debian's python3-torch), not by `pnpm bench`.
const torch = join('scripts', 'compare-pytorch', 'RESULTS.md');
if (existsSync(torch)) sections.push({ name: 'compare-pytorch', text: readFileSync(torch, 'utf8').trim() });
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const header = `# Benchmarks

Each section is written by its package's benchmark (\`bench/index.ts\`; the command, backend,
cores, repetitions and the date are in the section). \`pnpm bench\` at the repository root runs them
all, one after another, and rewrites this file from their results. Machine when this file was
assembled: ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.
The machine is shared and noisy: rows give medians, and ratios to the same run's matMul rate are
the numbers to compare. Never a timed test: nothing here is asserted by CI.
`;
const out = [header, ...sections.map((s) => s.text)].join('\n\n') + '\n';
writeFileSync('BENCHMARKS.md.tmp', out);
renameSync('BENCHMARKS.md.tmp', 'BENCHMARKS.md');
console.log(`BENCHMARKS.md: ${sections.length} sections (${sections.map((s) => s.name).join(', ')})`);
