import { describe, expect, it } from 'vitest';
import { JOB_FORMAT, JobFormatError, parseScoreJob, parseScoreResult, scoreJobId } from './index.js';

const sha = 'a'.repeat(64);
const job = { format: JOB_FORMAT, run: { id: '0123456789abcdef', dir: '/runs/chest' }, image: { id: 'test/NORMAL/a.png', path: 'data/test/NORMAL/a.png', sha256: sha, bytes: 'AAAA' } };

describe('job and result formats', () => {
  it('accepts a job with bytes or with a shared path, and a result', () => {
    expect(parseScoreJob(job).image.id).toBe('test/NORMAL/a.png');
    const shared = { ...job, image: { id: 'x', path: '/mnt/x.png', sha256: sha, shared: true } };
    expect(parseScoreJob(shared).image.shared).toBe(true);
    expect(parseScoreResult({ id: 'x', flow: -0.3, recon: -0.9, total: -0.36, worker: 'h:1', ms: 12 }).total).toBe(-0.36);
  });

  it('refuses malformed jobs naming the field', () => {
    expect(() => parseScoreJob({ ...job, run: { ...job.run, id: 'short' } })).toThrow(/run\.id: .*16 lower-case hex digits/);
    expect(() => parseScoreJob({ ...job, format: 99 })).toThrow(JobFormatError);
    expect(() => parseScoreJob({ ...job, image: { ...job.image, shared: true } })).toThrow(/either its bytes or shared: true/);
    const { bytes: _b, ...noBytes } = job.image;
    expect(() => parseScoreJob({ ...job, image: noBytes })).toThrow(/either its bytes or shared/);
    expect(() => parseScoreResult({ id: 'x', flow: 'NaN', recon: 0, total: 0, worker: 'w', ms: 1 }, 'job 7')).toThrow(/^job 7: flow:/);
  });

  it('gives an image the same job id every time, a new one when the run or the content changes, never a ":"', () => {
    const id = scoreJobId('0123456789abcdef', 'b'.repeat(64), sha);
    expect(id).toBe(scoreJobId('0123456789abcdef', 'b'.repeat(64), sha));
    expect(id).not.toContain(':');
    expect(Number.isInteger(Number(id))).toBe(false);
    expect(scoreJobId('0123456789abcdef', 'b'.repeat(64), 'c'.repeat(64))).not.toBe(id);
    expect(scoreJobId('fedcba9876543210', 'b'.repeat(64), sha)).not.toBe(id);
  });
});
