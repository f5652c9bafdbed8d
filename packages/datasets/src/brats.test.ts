import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brats2021Dataset, nonZeroPercentile } from './brats.js';
import { InvalidImageError } from './errors.js';
import { readNiftiVolume } from './nifti.js';
import { makeNifti, tempDir } from './test-helpers.js';

// Volumes 4 × 3 × 20 (x, y, z). Brain (non-zero) in slices 2..17; tumour in slices 9 and 10 of case A.
const X = 4;
const Y = 3;
const Z = 20;
function flair(scale: number): number[] {
  const v: number[] = [];
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) v.push(z >= 2 && z < 18 ? scale * (1 + x + X * y) : 0);
  return v;
}
function seg(tumourSlices: number[]): number[] {
  const v: number[] = [];
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) v.push(tumourSlices.includes(z) && x === 1 && y === 1 ? 2 : 0);
  return v;
}

let dir = '';
let cleanup: () => Promise<void> = () => Promise.resolve();
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const cases: [string, number[], boolean][] = [
    ['BraTS2021_00000', [9, 10], true],
    ['BraTS2021_00001', [], true],
    ['BraTS2021_00002', [], false], // no seg
  ];
  for (const [name, tumour, withSeg] of cases) {
    await mkdir(join(dir, 'brats', name), { recursive: true });
    await writeFile(join(dir, 'brats', name, `${name}_flair.nii.gz`), makeNifti([X, Y, Z], flair(name.endsWith('1') ? 10 : 1)));
    await writeFile(join(dir, 'brats', name, `${name}_t1.nii.gz`), makeNifti([X, Y, Z], flair(3), { datatype: 'float32' }));
    if (withSeg) await writeFile(join(dir, 'brats', name, `${name}_seg.nii.gz`), makeNifti([X, Y, Z], seg(tumour), { datatype: 'uint8' }));
  }
});
afterAll(() => cleanup());

describe('NIfTI', () => {
  it('reads gzipped and plain volumes, x fastest, with scl_slope/scl_inter', async () => {
    const p = join(dir, 'v.nii');
    await writeFile(p, makeNifti([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7], { gzip: false, slope: 2, intercept: -1 }));
    const v = await readNiftiVolume(p);
    expect(v.dims).toEqual([2, 2, 2]);
    expect(Array.from(v.data)).toEqual([-1, 1, 3, 5, 7, 9, 11, 13]);
    const g = await readNiftiVolume(join(dir, 'brats', 'BraTS2021_00000', 'BraTS2021_00000_t1.nii.gz'));
    expect(g.dims).toEqual([X, Y, Z]);
    expect(g.data[2 * X * Y + 5]).toBe(18);
    await writeFile(join(dir, 'bad.nii.gz'), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
    await expect(readNiftiVolume(join(dir, 'bad.nii.gz'))).rejects.toThrow(/corrupt gzip data/);
    await writeFile(join(dir, 'text.nii'), 'x'.repeat(400));
    await expect(readNiftiVolume(join(dir, 'text.nii'))).rejects.toThrow(/not a NIfTI-1\/2 file/);
  });
});

describe('brats2021Dataset', () => {
  it('a case without its seg stops the listing, naming the file and the reason', async () => {
    const err = await brats2021Dataset(join(dir, 'brats')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidImageError);
    expect((err as InvalidImageError).path).toBe(join(dir, 'brats', 'BraTS2021_00002', 'BraTS2021_00002_flair.nii.gz'));
    expect((err as InvalidImageError).reason).toMatch(/NIfTI without its segmentation: no \*_seg\.nii\.gz/);
  });

  it('central slices labelled by the seg mask, empty slices left out, per-volume normalisation', async () => {
    const ds = await brats2021Dataset(join(dir, 'brats'), { skipInvalid: true, centralSlices: 20 });
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped[0]!.path).toMatch(/BraTS2021_00002_flair\.nii\.gz$/);
    // Slices 2..17 have brain: 16 per case, 2 cases.
    expect(ds.items).toHaveLength(32);
    const anomalous = ds.items.filter((i) => i.label === 1).map((i) => i.id);
    expect(anomalous).toEqual(['BraTS2021_00000/flair/z009', 'BraTS2021_00000/flair/z010']);
    expect(ds.items[0]!.source).toEqual({ kind: 'volume', path: join(dir, 'brats', 'BraTS2021_00000', 'BraTS2021_00000_flair.nii.gz'), slice: 2 });
    // Both cases normalise to the same image although case 1 is 10× brighter.
    const a = await ds.load(ds.items[0]!, { size: 4, channels: 1 });
    const b = await ds.load(ds.items[16]!, { size: 4, channels: 1 });
    expect(a.width).toBe(4);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Math.max(...a.data)).toBe(1);
    expect(Math.min(...a.data)).toBeGreaterThan(0);
    const ten = await brats2021Dataset(join(dir, 'brats'), { skipInvalid: true });
    // Default: the 10 central slices, z = 5..14 of 20, in each case.
    const central = Array.from({ length: 10 }, (_, k) => `z${String(5 + k).padStart(3, '0')}`);
    expect(ten.items.map((i) => i.id.slice(-4))).toEqual([...central, ...central]);
    const t1 = await brats2021Dataset(join(dir, 'brats'), { modality: 't1', skipInvalid: true });
    expect(t1.name).toBe('brats2021/t1');
    expect(nonZeroPercentile(Float32Array.from([0, 0, 1, 2, 3, 4]), 100)).toBe(4);
  });
});
