import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@aeflow/tensor/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches } from './batches.js';
import { InvalidImageError } from './errors.js';
import { writeSkipReport } from './skip-report.js';
import { chestXrayDataset, filesDataset, folderDataset, oct2017Dataset } from './folder.js';
import { makeBmp, makeDicom, tempDir } from './test-helpers.js';

const run = promisify(execFile);

async function png(value: number, width = 8, height = 8): Promise<Buffer> {
  return sharp(new Uint8Array(width * height).fill(value), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

let dir = '';
let cleanup: () => Promise<void> = () => Promise.resolve();

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  ({ dir, cleanup } = await tempDir());
  const root = join(dir, 'xray');
  for (const [cls, n, value] of [
    ['NORMAL', 3, 10],
    ['PNEUMONIA', 2, 200],
  ] as const) {
    await mkdir(join(root, 'train', cls), { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(join(root, 'train', cls, `img${i}.png`), await png(value + i));
  }
  await writeFile(join(root, 'train', 'NORMAL', 'scan.dcm'), makeDicom({ rows: 4, cols: 4, pixels: Array.from({ length: 16 }, (_, i) => i) }));
  await writeFile(join(root, 'train', 'NORMAL', 'b.bmp'), makeBmp(4, 4, () => [9, 9, 9]));
  await writeFile(join(root, 'train', 'NORMAL', 'README.txt'), 'not an image');
  await writeFile(join(root, 'train', 'NORMAL', '.DS_Store'), 'mac junk');
  // Bad files among the pneumonia images.
  await writeFile(join(root, 'train', 'PNEUMONIA', 'zero.png'), new Uint8Array(0));
  await writeFile(join(root, 'train', 'PNEUMONIA', 'text.jpg'), 'I am text');
  const p = await png(99, 32, 32);
  await writeFile(join(root, 'train', 'PNEUMONIA', 'cut.png'), p.subarray(0, 40));
  await mkdir(join(root, 'train', 'OTHER'), { recursive: true });
  await writeFile(join(root, 'train', 'OTHER', 'o.png'), await png(50));
  // A folder whose normal class holds no image.
  await mkdir(join(dir, 'empty', 'NORMAL'), { recursive: true });
  await mkdir(join(dir, 'empty', 'ABNORMAL'), { recursive: true });
  await writeFile(join(dir, 'empty', 'NORMAL', 'notes.txt'), 'x');
  await writeFile(join(dir, 'empty', 'ABNORMAL', 'a.png'), await png(1));
});
afterAll(() => cleanup());

describe('folderDataset', () => {
  it('lists <root>/<split>/<CLASS>/* with labels, ids and a report of what it left out', async () => {
    const ds = await folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'], anomalyClasses: ['PNEUMONIA'], skipInvalid: true });
    expect(ds.name).toBe('xray/train');
    expect(ds.items.map((i) => [i.id, i.label])).toEqual([
      ['train/NORMAL/b.bmp', 0],
      ['train/NORMAL/img0.png', 0],
      ['train/NORMAL/img1.png', 0],
      ['train/NORMAL/img2.png', 0],
      ['train/NORMAL/scan.dcm', 0],
      ['train/PNEUMONIA/cut.png', 1],
      ['train/PNEUMONIA/img0.png', 1],
      ['train/PNEUMONIA/img1.png', 1],
      ['train/PNEUMONIA/text.jpg', 1],
    ]);
    const reasons = ds.skipped.map((s) => [s.path.slice(dir.length + 1), s.reason.split(':')[0]]);
    expect(reasons).toEqual([
      ['xray/train/NORMAL/README.txt', 'ignored'],
      ['xray/train/OTHER', 'ignored'],
      ['xray/train/PNEUMONIA/zero.png', 'empty file (0 bytes)'],
    ]);
    // Every decoder is reached through the folder: DICOM, BMP, PNG.
    const dcm = await ds.load(ds.items[4]!, { size: 4, channels: 1 });
    expect(dcm.data[0]).toBe(0);
    expect(dcm.data[15]).toBe(1);
    const bmp = await ds.load(ds.items[0]!, { size: 2, channels: 3 });
    expect(bmp.data[0]).toBeCloseTo(9 / 255, 6);
  });

  it('default: anything not normal is anomalous; a zero-byte file stops the listing with its path', async () => {
    await expect(folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'] })).rejects.toThrow(/zero\.png: empty file \(0 bytes\)/);
    const err = await folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidImageError);
    const ds = await folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'], skipInvalid: true });
    expect(ds.items.filter((i) => i.className === 'OTHER').map((i) => i.label)).toEqual([1]);
  });

  it('errors: missing split, missing normal class, normal folder without images', async () => {
    await expect(folderDataset(join(dir, 'xray'), { split: 'test', normalClasses: ['NORMAL'] })).rejects.toThrow(/xray\/test is not a folder \(.*xray holds: train\)/);
    await expect(folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['HEALTHY'] })).rejects.toThrow(/no normal class folder "HEALTHY" in .*class folders there: NORMAL, OTHER, PNEUMONIA/);
    await expect(folderDataset(join(dir, 'empty'), { normalClasses: ['NORMAL'] })).rejects.toThrow(/empty\/NORMAL hold no usable images/);
    await expect(folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: [] })).rejects.toThrow(/normalClasses is required/);
  });

  it('chestXrayDataset and oct2017Dataset name their classes', async () => {
    const cx = await chestXrayDataset(join(dir, 'xray'), { split: 'train', skipInvalid: true });
    expect(cx.name).toBe('chest-xray/train');
    expect(new Set(cx.items.map((i) => i.className))).toEqual(new Set(['NORMAL', 'PNEUMONIA']));
    const oct = await oct2017Dataset(join(dir, 'xray'), { split: 'train', skipInvalid: true });
    expect(oct.items.every((i) => i.className === 'NORMAL')).toBe(true);
  });
});

describe('odd entries in dataset folders', () => {
  /** A dataset with every kind of odd entry, each in its own class folder where it matters. */
  async function oddDataset(name: string, odd: (cls: string) => Promise<void>): Promise<string> {
    const root = join(dir, name);
    await mkdir(join(root, 'NORMAL'), { recursive: true });
    await writeFile(join(root, 'NORMAL', 'n0.png'), await png(20));
    await mkdir(join(root, 'SICK'), { recursive: true });
    await writeFile(join(root, 'SICK', 's0.png'), await png(200));
    await odd(join(root, 'SICK'));
    return root;
  }

  it('a dangling symlink is one bad file: named in the error (no raw ENOENT), or skipped and listed under skipInvalid', async () => {
    const root = await oddDataset('dangling', (cls) => symlink(join(cls, 'gone.png'), join(cls, 'broken.png')));
    const err = (await folderDataset(root, { normalClasses: ['NORMAL'] }).catch((e: unknown) => e)) as InvalidImageError;
    expect(err).toBeInstanceOf(InvalidImageError);
    expect(err.path).toBe(join(root, 'SICK', 'broken.png'));
    expect(err.reason).toMatch(/^dangling symlink → .*gone\.png: its target does not exist$/);
    expect(err.message).not.toMatch(/ENOENT/);
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'], skipInvalid: true });
    expect(ds.items.map((i) => i.id)).toEqual(['NORMAL/n0.png', 'SICK/s0.png']);
    expect(ds.skipped).toEqual([{ path: join(root, 'SICK', 'broken.png'), reason: expect.stringMatching(/^dangling symlink/) }]);
  });

  it('a symlink loop (a link to itself, and a folder linking back up) is one bad entry, not ELOOP or endless recursion', async () => {
    const root = await oddDataset('loop', async (cls) => {
      await symlink(join(cls, 'self.png'), join(cls, 'self.png'));
      await symlink(cls, join(cls, 'again')); // SICK/again → SICK
    });
    const err = (await folderDataset(root, { normalClasses: ['NORMAL'] }).catch((e: unknown) => e)) as InvalidImageError;
    expect(err).toBeInstanceOf(InvalidImageError);
    expect(err.message).not.toMatch(/ELOOP/);
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'], skipInvalid: true });
    expect(ds.items.map((i) => i.id)).toEqual(['NORMAL/n0.png', 'SICK/s0.png']);
    expect(ds.skipped.map((s) => [s.path.slice(root.length + 1), s.reason.replace(/ → .*?:/, ':').split(':')[0]])).toEqual([
      ['SICK/again', 'symlink loop'],
      ['SICK/self.png', 'symlink loop'],
    ]);
  });

  it('a FIFO named like an image is invalid (never opened: reading it would block); one without an image name is listed as ignored', async () => {
    const root = await oddDataset('fifo', async (cls) => {
      await run('mkfifo', [join(cls, 'pipe.png'), join(cls, 'pipe')]);
    });
    await expect(folderDataset(root, { normalClasses: ['NORMAL'] })).rejects.toThrow(/pipe\.png: a FIFO \(named pipe\), not a regular file/);
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'], skipInvalid: true });
    expect(ds.items.map((i) => i.id)).toEqual(['NORMAL/n0.png', 'SICK/s0.png']);
    expect(ds.skipped.map((s) => [s.path.slice(root.length + 1), s.reason.split(',')[0]])).toEqual([
      ['SICK/pipe', 'ignored: a FIFO (named pipe)'],
      ['SICK/pipe.png', 'a FIFO (named pipe)'],
    ]);
  });

  it('a folder named x.png is listed (ignored as an image), its files are listed with the class', async () => {
    const root = await oddDataset('dirpng', async (cls) => {
      await mkdir(join(cls, 'x.png'));
      await mkdir(join(cls, 'y.png'));
      await writeFile(join(cls, 'y.png', 'inside.png'), await png(210));
    });
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'] });
    expect(ds.items.map((i) => i.id)).toEqual(['NORMAL/n0.png', 'SICK/s0.png', 'SICK/y.png/inside.png']);
    expect(ds.skipped.map((s) => [s.path.slice(root.length + 1), s.reason.split(' (')[0]])).toEqual([
      ['SICK/x.png', 'ignored: a folder named like an image file'],
      ['SICK/y.png', 'ignored: a folder named like an image file'],
    ]);
  });

  it('.webp in a folder is an image, as when passed as a file', async () => {
    const root = await oddDataset('webp', async (cls) => {
      await writeFile(join(cls, 'w.webp'), await sharp(new Uint8Array(8 * 8 * 3).fill(120), { raw: { width: 8, height: 8, channels: 3 } }).webp({ lossless: true }).toBuffer());
    });
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'] });
    expect(ds.items.map((i) => i.id)).toEqual(['NORMAL/n0.png', 'SICK/s0.png', 'SICK/w.webp']);
    const fromFolder = await ds.load(ds.items[2]!, { size: 4, channels: 1 });
    const files = await filesDataset(join(root, 'SICK', 'w.webp'));
    const fromFile = await files.load(files.items[0]!, { size: 4, channels: 1 });
    expect(Array.from(fromFolder.data)).toEqual(Array.from(fromFile.data));
    expect(fromFolder.data[0]).toBeCloseTo(120 / 255, 5);
  });

  it('a class folder that is a symlink to a folder is followed (ids keep the link name); a dangling class link is named', async () => {
    const root = join(dir, 'linked');
    const store = join(dir, 'linked-store');
    await mkdir(join(store, 'normal-images'), { recursive: true });
    await mkdir(join(store, 'sick-images'), { recursive: true });
    await writeFile(join(store, 'normal-images', 'a.png'), await png(30));
    await writeFile(join(store, 'sick-images', 'b.png'), await png(230));
    await mkdir(root, { recursive: true });
    await symlink(join(store, 'normal-images'), join(root, 'NORMAL'));
    await symlink(join(store, 'sick-images'), join(root, 'SICK'));
    const ds = await folderDataset(root, { normalClasses: ['NORMAL'] });
    expect(ds.items.map((i) => [i.id, i.label])).toEqual([
      ['NORMAL/a.png', 0],
      ['SICK/b.png', 1],
    ]);
    expect((await ds.load(ds.items[1]!, { size: 2, channels: 1 })).data[0]).toBeCloseTo(230 / 255, 5);
    await symlink(join(store, 'no-such-folder'), join(root, 'LOST'));
    await expect(folderDataset(root, { normalClasses: ['NORMAL'] })).rejects.toThrow(/LOST: class folder dangling symlink/);
    const skipping = await folderDataset(root, { normalClasses: ['NORMAL'], skipInvalid: true });
    expect(skipping.items).toHaveLength(2);
    expect(skipping.skipped.map((s) => s.path)).toEqual([join(root, 'LOST')]);
  });
});

describe('batches over a folder with bad files', () => {
  it('default: the run stops at the first invalid file, naming it and the reason', async () => {
    const ds = await folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'], anomalyClasses: ['PNEUMONIA'], skipInvalid: true });
    ds.skipInvalid = false;
    const seen: string[] = [];
    const run = async () => {
      for await (const b of batches(ds, ds.items, { batchSize: 4, size: 8 })) {
        seen.push(...b.ids);
        b.images.dispose();
      }
    };
    await expect(run()).rejects.toThrow(/cut\.png: truncated or corrupt image/);
    expect(seen).toHaveLength(4);
  });

  it('skipInvalid: skips, lists every one, refills batches; the report is written with the run', async () => {
    const ds = await folderDataset(join(dir, 'xray'), { split: 'train', normalClasses: ['NORMAL'], anomalyClasses: ['PNEUMONIA'], skipInvalid: true });
    const before = tf.memory().numTensors;
    const sizes: number[] = [];
    const labels: (0 | 1 | null)[] = [];
    const onSkip: string[] = [];
    for await (const b of batches(ds, ds.items, { batchSize: 3, size: 16, channels: 3, onSkip: (s) => onSkip.push(s.path) })) {
      expect(b.images.shape.slice(1)).toEqual([16, 16, 3]);
      sizes.push(b.images.shape[0]);
      labels.push(...b.labels);
      b.images.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(sizes).toEqual([3, 3, 1]); // 9 listed − 2 undecodable = 7
    expect(labels).toEqual([0, 0, 0, 0, 0, 1, 1]);
    expect(onSkip.map((p) => p.split('/').pop())).toEqual(['cut.png', 'text.jpg']);
    expect(ds.skipped.map((s) => s.path.split('/').pop())).toEqual(['README.txt', 'OTHER', 'zero.png', 'cut.png', 'text.jpg']);
    const report = join(dir, 'run', 'skipped.json');
    await writeSkipReport(report, ds.skipped);
    const parsed = JSON.parse(await readFile(report, 'utf8')) as { count: number; skipped: { path: string; reason: string }[] };
    expect(parsed.count).toBe(5);
    expect(parsed.skipped[4]!.reason).toMatch(/not an image in a supported format/);
  });
});

describe('filesDataset', () => {
  it('one file or a list, labels optional; missing files stop or are skipped', async () => {
    const a = join(dir, 'xray', 'train', 'NORMAL', 'img0.png');
    const one = await filesDataset(a);
    expect(one.items).toEqual([{ id: a, label: null, source: { kind: 'file', path: a } }]);
    const img = await one.load(one.items[0]!, { size: 4, channels: 1 });
    expect(img.data.every((v) => Math.abs(v - 10 / 255) < 1e-6)).toBe(true);
    await expect(filesDataset([a, join(dir, 'missing.png')])).rejects.toThrow(/missing\.png: file not found/);
    const two = await filesDataset([a, join(dir, 'missing.png')], { skipInvalid: true, labels: [0, 1] });
    expect(two.items.map((i) => i.label)).toEqual([0]);
    expect(two.skipped).toEqual([{ path: join(dir, 'missing.png'), reason: 'file not found' }]);
    await expect(filesDataset([a], { labels: [0, 1] })).rejects.toThrow(/2 labels for 1 files/);
  });
});

describe('the shared Chest X-ray train folder', () => {
  const HOME = process.env.AEFLOW_HOME;
  it.skipIf(!HOME)('decodes the JPEGs to 256 px and streams batches at 64 px (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    const ds = await chestXrayDataset(`${HOME}/data/chest-xray`, { split: 'train' });
    expect(ds.items.filter((i) => i.label === 0)).toHaveLength(1341);
    expect(ds.items.filter((i) => i.label === 1)).toHaveLength(3875);
    expect(ds.items[0]!.id).toMatch(/^train\/NORMAL\/.+\.jpeg$/);
    const img = await ds.load(ds.items[0]!, { size: 256 });
    expect([img.width, img.height, img.channels, img.data.length]).toEqual([256, 256, 3, 256 * 256 * 3]);
    const mean = img.data.reduce((a, v) => a + v, 0) / img.data.length;
    expect(mean).toBeGreaterThan(0.1);
    expect(mean).toBeLessThan(0.9);
    // X-rays are gray: the three channels agree.
    for (let i = 0; i < img.data.length; i += 3 * 997) expect(Math.abs(img.data[i]! - img.data[i + 1]!)).toBeLessThan(0.02);
    const pick = [...ds.items.slice(0, 10), ...ds.items.slice(-10)];
    const before = tf.memory().numTensors;
    const labels: (0 | 1 | null)[] = [];
    for await (const b of batches(ds, pick, { batchSize: 8, size: 64, shuffle: true, seed: 1 })) {
      expect(b.images.shape.slice(1)).toEqual([64, 64, 3]);
      labels.push(...b.labels);
      b.images.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(labels.filter((l) => l === 0)).toHaveLength(10);
    expect(labels).toHaveLength(20);
  });
});
