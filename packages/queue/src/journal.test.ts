import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, JOURNAL_FILE } from './journal.js';

const done = (n: number) => ({ ok: true as const, jobId: `j${n}`, id: `img ${n}`, flow: -0.5 + n, recon: -0.9, total: 0.1 * n, worker: 'w:1' });

describe('Journal', () => {
  it('keeps what was appended across reopening, and refuses another run', async () => {
    const out = await mkdtemp(join(tmpdir(), 'journal-'));
    const j = await Journal.open(out, 'run-a', 'q');
    await j.append([done(1), done(2)]);
    await j.append([{ ok: false, jobId: 'j3', id: 'bad', path: 'data/bad.png', reason: 'truncated or corrupt image' }]);
    await j.close();
    const again = await Journal.open(out, 'run-a', 'q');
    expect([...again.entries.keys()]).toEqual(['j1', 'j2', 'j3']);
    expect(again.entries.get('j2')).toEqual(done(2));
    expect(again.repairedTail).toBe(false);
    await again.close();
    await expect(Journal.open(out, 'run-b', 'q')).rejects.toThrow(/holds results of run run-a, not of run-b.*use another --out/);
  });

  it('drops a last line cut by a crash (and writes over it), but stops at a damaged line before it', async () => {
    const out = await mkdtemp(join(tmpdir(), 'journal-'));
    const j = await Journal.open(out, 'run-a', 'q');
    await j.append([done(1)]);
    await j.close();
    const path = join(out, JOURNAL_FILE);
    await appendFile(path, '{"ok":true,"jobId":"j2","id":"im');
    const repaired = await Journal.open(out, 'run-a', 'q');
    expect(repaired.repairedTail).toBe(true);
    expect([...repaired.entries.keys()]).toEqual(['j1']);
    await repaired.append([done(3)]);
    await repaired.close();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2]!)).toEqual(done(3));

    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"j1"', '"j1'));
    await expect(Journal.open(out, 'run-a', 'q')).rejects.toThrow(/queue-journal\.jsonl: line 2 is not JSON; delete .* to score every image again/);
  });
});
