import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from './safetensors-file.js';

/** Builds a safetensors file by hand, independent of our encoder, so the reader is tested on its own. */
function handMade(entries: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const [k, e] of Object.entries(entries)) {
    header[k] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const e of Object.values(entries)) {
    out.set(e.bytes, p);
    p += e.bytes.length;
  }
  return out;
}

let dir: string;
beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  dir = await mkdtemp(join(tmpdir(), 'aeflow-st-'));
});

describe('safetensors', () => {
  it('reads every dtype a PyTorch checkpoint uses (F32, F16, BF16, I64, U8) from a hand-made file', async () => {
    const f32 = new Float32Array([1.5, -2.25, 3, 0]);
    // F16 bits for 1, -2, 0.5, 65504 (max half)
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]);
    // BF16 bits for 1, -2, 3.140625
    const bf16 = new Uint16Array([0x3f80, 0xc000, 0x4049]);
    const i64 = new BigInt64Array([5n, -7n, 2147483647n]);
    const u8 = new Uint8Array([0, 255, 7]);
    const bytes = handMade(
      {
        'layer1.0.conv1.weight': { dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(f32.buffer) },
        half: { dtype: 'F16', shape: [4], bytes: new Uint8Array(f16.buffer) },
        brain: { dtype: 'BF16', shape: [3], bytes: new Uint8Array(bf16.buffer) },
        'bn1.num_batches_tracked': { dtype: 'I64', shape: [3], bytes: new Uint8Array(i64.buffer) },
        mask: { dtype: 'U8', shape: [3], bytes: u8 },
      },
      { format: 'pt' },
    );
    const path = join(dir, 'hand.safetensors');
    await writeFile(path, bytes);
    const t = await readSafetensors(path);
    expect(t['layer1.0.conv1.weight']!.shape).toEqual([2, 2]);
    expect(Array.from(t['layer1.0.conv1.weight']!.dataSync())).toEqual([1.5, -2.25, 3, 0]);
    expect(Array.from(t.half!.dataSync())).toEqual([1, -2, 0.5, 65504]);
    expect(Array.from(t.brain!.dataSync())).toEqual([1, -2, 3.140625]);
    expect(t['bn1.num_batches_tracked']!.dtype).toBe('int32');
    expect(Array.from(t['bn1.num_batches_tracked']!.dataSync())).toEqual([5, -7, 2147483647]);
    expect(Array.from(t.mask!.dataSync())).toEqual([0, 255, 7]);
    const header = await readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ format: 'pt' });
    Object.values(t).forEach((x) => x.dispose());
  });

  it('round-trips tensors and metadata through write → read, F32 exactly and F16 within half precision', async () => {
    const a = tf.tensor([[0.1, -3.3e-5, 1e4], [7, 8, 9]]);
    const b = tf.tensor([1, 2, 3], [3], 'int32');
    const path = join(dir, 'rt.safetensors');
    await writeSafetensors(path, { 'decoder.blocks.0.up.weight': a, steps: b }, { epoch: '3' });
    const back = await readSafetensors(path);
    expect(Array.from(back['decoder.blocks.0.up.weight']!.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(back.steps!.dtype).toBe('int32');
    expect((await readSafetensorsHeader(path)).metadata).toEqual({ epoch: '3' });
    const half = decodeSafetensors(encodeSafetensors({ a }, undefined, { floatDtype: 'F16' })).tensors.a!;
    const rel = Array.from(half.dataSync()).map((v, i) => Math.abs(v - a.dataSync()[i]!) / Math.max(1e-4, Math.abs(a.dataSync()[i]!)));
    expect(Math.max(...rel)).toBeLessThan(1e-3);
    // the header is padded to a multiple of 8 bytes, as the spec asks
    const raw = await readFile(path);
    expect(Number(new DataView(raw.buffer, raw.byteOffset).getBigUint64(0, true)) % 8).toBe(0);
    tf.dispose([a, b, half, ...Object.values(back)]);
  });

  it('reads only the tensors a filter keeps', async () => {
    const path = join(dir, 'filter.safetensors');
    await writeSafetensors(path, { 'layer3.0.conv1.weight': tf.ones([2]), 'fc.weight': tf.ones([3]) });
    const t = await readSafetensors(path, { filter: (k) => !k.startsWith('fc.') });
    expect(Object.keys(t)).toEqual(['layer3.0.conv1.weight']);
    tf.dispose(Object.values(t));
  });

  it('leaves no temp file behind and keeps the old file when a write fails', async () => {
    const path = join(dir, 'atomic.safetensors');
    await writeSafetensors(path, { x: tf.ones([2]) });
    const disposed = tf.ones([2]);
    disposed.dispose();
    await expect(writeSafetensors(path, { x: disposed })).rejects.toThrow(/"x" is disposed/);
    const t = await readSafetensors(path);
    expect(Array.from(t.x!.dataSync())).toEqual([1, 1]);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    t.x!.dispose();
  });

  it('names the problem in truncated and malformed files', async () => {
    const good = encodeSafetensors({ w: tf.ones([4, 4]) });
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(0), /only 0 bytes/],
      ['short-header', good.subarray(0, 20), /runs past the end/],
      ['truncated-data', good.subarray(0, good.length - 8), /tensor "w" ends at byte 64 .* only 56 bytes/],
      ['not-json', handMadeRaw('{"w": nope}'), /not JSON/],
      ['bad-dtype', handMadeRaw('{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}', 8), /dtype "C64"/],
      ['bad-span', handMadeRaw('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), /needs 12 bytes but its offsets span 8/],
      ['overlap', handMadeRaw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12), /overlap/],
    ];
    for (const [name, bytes, re] of cases) {
      const path = join(dir, `${name}.safetensors`);
      await writeFile(path, bytes);
      await expect(readSafetensors(path), name).rejects.toThrow(re);
      await expect(readSafetensors(path), name).rejects.toThrow(path);
    }
  });

  it('refuses I64 values that int32 cannot hold instead of wrapping them', async () => {
    const path = join(dir, 'big.safetensors');
    const v = new BigInt64Array([2n ** 40n]);
    await writeFile(path, handMade({ big: { dtype: 'I64', shape: [1], bytes: new Uint8Array(v.buffer) } }));
    await expect(readSafetensors(path)).rejects.toThrow(/does not fit/);
  });
});

function handMadeRaw(json: string, dataBytes = 0): Uint8Array {
  const j = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + j.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  return out;
}
