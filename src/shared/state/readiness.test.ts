import { describe, expect, it } from 'vitest';
import { readyWithinGrace } from './readiness.js';
import type { StateHealth } from './types.js';

const health = (ready: boolean, unreadySince?: number): StateHealth => ({
  state: ready ? 'READY' : 'RECONNECTING',
  ready,
  unreadySince,
  ping: async () => 0,
});

describe('readyWithinGrace', () => {
  it('is ready while the store is, whatever the grace', () => {
    expect(readyWithinGrace(health(true), 0)).toBe(true);
  });

  it('counts an unready store as ready up to the grace, and not after', () => {
    const now = 1_000_000;
    expect(readyWithinGrace(health(false, now - 30_000), 30_000, now)).toBe(true);
    expect(readyWithinGrace(health(false, now - 30_001), 30_000, now)).toBe(false);
  });

  it('fails at once with a grace of 0, or when it cannot tell since when', () => {
    const now = 1_000_000;
    expect(readyWithinGrace(health(false, now - 1), 0, now)).toBe(false);
    expect(readyWithinGrace(health(false, undefined), 30_000, now)).toBe(false);
  });
});
