/** The token-bucket arithmetic both drivers share (the Redis script computes it step for step). */
import { describe, expect, it } from 'vitest';
import { checkBucket, takeTokens } from './memory.js';

describe('takeTokens', () => {
  it('starts full and takes the cost', () => {
    const { bucket, decision } = takeTokens(undefined, 1000, 120, 60_000, 1);
    expect(bucket).toEqual({ tokens: 119, at: 1000 });
    expect(decision).toEqual({ allowed: true, remaining: 119, limit: 120, retryAfterMs: 0, resetMs: 500 });
  });

  it('refills evenly over the period, never above capacity', () => {
    let b = takeTokens(undefined, 0, 10, 1000, 10).bucket; // empty
    expect(b.tokens).toBe(0);
    let r = takeTokens(b, 250, 10, 1000, 0);
    expect(r.bucket.tokens).toBeCloseTo(2.5);
    b = r.bucket;
    r = takeTokens(b, 10_000, 10, 1000, 0);
    expect(r.bucket.tokens).toBe(10);
    expect(r.decision.resetMs).toBe(0);
  });

  it('denies without taking, and says how long until enough tokens are back', () => {
    const empty = takeTokens(undefined, 0, 10, 1000, 10).bucket;
    const r = takeTokens(empty, 50, 10, 1000, 1); // 0.5 tokens back
    expect(r.decision).toEqual({ allowed: false, remaining: 0, limit: 10, retryAfterMs: 50, resetMs: 950 });
    expect(r.bucket.tokens).toBeCloseTo(0.5);
  });

  it('ignores a clock that went backwards instead of draining the bucket', () => {
    const b = { tokens: 5, at: 10_000 };
    const r = takeTokens(b, 9_000, 10, 1000, 1);
    expect(r.decision.allowed).toBe(true);
    expect(r.bucket.tokens).toBe(4);
  });

  it('refuses arguments that make no bucket', () => {
    expect(() => checkBucket(0, 1000, 1)).toThrow(RangeError);
    expect(() => checkBucket(10, Number.NaN, 1)).toThrow(RangeError);
    expect(() => checkBucket(10, 1000, -1)).toThrow(RangeError);
    expect(() => checkBucket(10, 1000, 0)).not.toThrow();
  });
});
