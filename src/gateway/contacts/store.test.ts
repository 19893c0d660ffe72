import { describe, expect, it } from 'vitest';
import { normalizeEmail, normalizePhone } from './store.js';

describe('contact identifiers', () => {
  it('matches emails case-insensitively and ignores what is not an email', () => {
    expect(normalizeEmail(' Grace@Example.COM ')).toBe('grace@example.com');
    expect(normalizeEmail('not an email')).toBeUndefined();
    expect(normalizeEmail('')).toBeUndefined();
    expect(normalizeEmail(undefined)).toBeUndefined();
  });

  it('reduces phones to their digits, keeping an international +', () => {
    expect(normalizePhone('+1 (202) 555-0100')).toBe('+12025550100');
    expect(normalizePhone('202.555.0100')).toBe('2025550100');
    expect(normalizePhone('12')).toBeUndefined();
    expect(normalizePhone('1234567890123456')).toBeUndefined();
    expect(normalizePhone(undefined)).toBeUndefined();
  });
});
