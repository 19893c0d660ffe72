import { describe, expect, it } from 'vitest';
import { bearerToken, isValidCcid, safeEqual } from './auth.js';

describe('credential parsing', () => {
  it('takes the token with or without the Bearer prefix, as the guide shows both', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('abc')).toBe('abc');
    expect(bearerToken('9b7682b7-cbce-422f-900b-ecda85e61695')).toBe('9b7682b7-cbce-422f-900b-ecda85e61695');
  });

  it('compares secrets of any length without throwing', () => {
    expect(safeEqual('secret', 'secret')).toBe(true);
    expect(safeEqual('secret', 'secreT')).toBe(false);
    expect(safeEqual('secret', 'secret-longer')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
    expect(safeEqual('é', 'e')).toBe(false);
  });

  it('accepts the guide ccids and refuses what cannot be one', () => {
    expect(isValidCcid('578ec98e-f07c-46ad-9675-f36c22f3ba9f')).toBe(true);
    expect(isValidCcid('premise_tenant.1')).toBe(true);
    for (const bad of ['', '*', '-x', 'a b', 'a/b', 'x'.repeat(129), "a'--"])
      expect(isValidCcid(bad)).toBe(false);
  });
});
