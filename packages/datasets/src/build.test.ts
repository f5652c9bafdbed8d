import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDicom, makeNifti, tempDir } from './test-helpers.js';

const run = promisify(execFile);
const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
// Inside the package so the bundles resolve their (external) dependencies from its node_modules.
const out = join(pkg, 'node_modules', '.cache', `build-test-${process.pid}`);

let dir = '';
let cleanup: () => Promise<void> = () => Promise.resolve();
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(join(dir, 'v.nii.gz'), makeNifti([2, 2, 1], [1, 2, 3, 4]));
  await writeFile(join(dir, 'a.dcm'), makeDicom({ rows: 1, cols: 2, pixels: [0, 10] }));
  // The same tsup build as `pnpm build` (ESM + CJS, dependencies external), into a scratch folder.
  await build({ entry: [join(pkg, 'src', 'index.ts'), join(pkg, 'src', 'node.ts')], format: ['esm', 'cjs'], outDir: out, target: 'es2022', dts: false, silent: true, clean: true, config: false });
}, 60_000);
afterAll(async () => {
  await cleanup();
  await rm(out, { recursive: true, force: true });
});

const script = (load: string) => `
${load}
const FIX = ${JSON.stringify(join(pkg, 'fixtures', 'dicom') + '/')};
const v = await m.readNiftiVolume(${JSON.stringify('DIR/v.nii.gz')});
const d = await m.decodeImageFile(${JSON.stringify('DIR/a.dcm')});
const same = async (a, b) => {
  const [x, y] = [await m.decodeImageFile(FIX + a), await m.decodeImageFile(FIX + b)];
  return x.data.length === y.data.length && x.data.every((v, i) => v === y.data[i]);
};
// the wasm codecs are imported lazily from the built code (CommonJS and ES module builds alike)
const codecs = [await same('mono16.jpegls.dcm', 'mono16.dcm'), await same('rgb8.j2k.dcm', 'rgb8.dcm'), (await m.decodeImageFile(FIX + 'rgb8.jpeg-baseline.dcm')).width];
console.log(JSON.stringify({ nifti: Array.from(v.data), dicom: Array.from(d.data), sharp: typeof m.decodeImageBytes, codecs }));
`;

describe('the built package', () => {
  it('loads nifti-reader-js (ESM only), dicom-parser (UMD), sharp and the DICOM wasm codecs from the CommonJS build', async () => {
    const code = script(`const m = require(${JSON.stringify(join(out, 'node.cjs'))});`).replaceAll('DIR', dir);
    const { stdout } = await run(process.execPath, ['-e', `(async () => {${code}})().catch((e) => { console.error(e); process.exit(1); })`], { cwd: pkg });
    expect(JSON.parse(stdout)).toEqual({ nifti: [1, 2, 3, 4], dicom: [0, 1], sharp: 'function', codecs: [true, true, 64] });
  });

  it('and from the ESM build', async () => {
    const code = script(`const m = await import(${JSON.stringify(join(out, 'node.js'))});`).replaceAll('DIR', dir);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: pkg });
    expect(JSON.parse(stdout)).toEqual({ nifti: [1, 2, 3, 4], dicom: [0, 1], sharp: 'function', codecs: [true, true, 64] });
  });
});
