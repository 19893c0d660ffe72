import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { mediaType, parseBody, parseForm } from './body.js';

const buf = (s: string) => Buffer.from(s, 'utf8');

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('parseForm', () => {
  it('nests bracketed keys, as the Chat v3 widgets send data[field]', () => {
    expect(parseForm('data[firstName]=Ann&data[lastName]=Lee&data[email]=ann%40example.com')).toEqual({
      data: { firstName: 'Ann', lastName: 'Lee', email: 'ann@example.com' },
    });
  });

  it('builds arrays from [] and objects inside them', () => {
    expect(parseForm('tags[]=a&tags[]=b')).toEqual({ tags: ['a', 'b'] });
    expect(parseForm('items[][name]=x&items[][name]=y')).toEqual({ items: [{ name: 'x' }, { name: 'y' }] });
  });

  it('decodes + and percent escapes, in keys too', () => {
    expect(parseForm('data%5Btext%5D=hello+world%21&plain=%C3%BC')).toEqual({
      data: { text: 'hello world!' },
      plain: 'ü',
    });
  });

  it('lets a later plain key win over an earlier one', () => {
    expect(parseForm('a=1&a=2')).toEqual({ a: '2' });
  });

  it('never reaches the prototype', () => {
    const out = parseForm('__proto__[x]=1&a[__proto__][y]=1&constructor[prototype][z]=1&ok=1');
    expect(out).toEqual({ ok: '1' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('keeps keys that are not bracket syntax as they are', () => {
    expect(parseForm('a]b=1&c[d=2')).toEqual({ 'a]b': '1', 'c[d': '2' });
  });
});

describe('parseBody', () => {
  it('reads JSON, including +json media types and a charset', () => {
    expect(parseBody(buf('{"a":1}'), 'application/json; charset=utf-8', ['json'])).toEqual({ a: 1 });
    expect(parseBody(buf('{"a":1}'), 'application/vnd.api+json', ['json'])).toEqual({ a: 1 });
  });

  it('refuses malformed JSON as MALFORMED_JSON', () => {
    expect(refusal(() => parseBody(buf('{"a":'), 'application/json', ['json'])).code).toBe(1001);
  });

  it('refuses a body its route does not take as UNSUPPORTED_MEDIA_TYPE', () => {
    const e = refusal(() => parseBody(buf('a=1'), 'application/x-www-form-urlencoded', ['json']));
    expect(e.code).toBe(1002);
    expect(e.details).toEqual({ contentType: 'application/x-www-form-urlencoded' });
    expect(refusal(() => parseBody(buf('x'), undefined, ['json', 'form'])).details).toEqual({
      contentType: '(none)',
    });
  });

  it('refuses a NUL however deep it is nested (PostgreSQL would refuse the whole commit batch)', () => {
    for (const depth of [1, 63, 64, 65, 200]) {
      const body = `${'{"a":'.repeat(depth)}"x\\u0000"${'}'.repeat(depth)}`;
      const e = refusal(() => parseBody(buf(body), 'application/json', ['json']));
      expect(e.errorName, `depth ${depth}`).toBe('VALIDATION_FAILED');
    }
    // Deep nesting without a NUL is the route's business.
    const deep = `${'{"a":'.repeat(200)}"x"${'}'.repeat(200)}`;
    expect(parseBody(buf(deep), 'application/json', ['json'])).toBeTypeOf('object');
  });

  it('refuses a lone surrogate escape, in a value or a key (PostgreSQL jsonb refuses it)', () => {
    for (const body of [
      '{"a":"x\\ud800"}',
      '{"a":{"b":["\\udfff"]}}',
      '{"\\uDBFF":1}',
      '{"a":"\\udc00\\ud800"}',
    ]) {
      expect(refusal(() => parseBody(buf(body), 'application/json', ['json'])).errorName, body).toBe(
        'VALIDATION_FAILED',
      );
    }
    // A pair is a character; an escaped backslash before "ud800" is only text.
    expect(parseBody(buf('{"a":"\\ud83d\\ude00"}'), 'application/json', ['json'])).toEqual({ a: '😀' });
    expect(parseBody(buf('{"a":"\\\\ud800"}'), 'application/json', ['json'])).toEqual({ a: '\\ud800' });
  });

  it('leaves raw bodies to the route', () => {
    expect(parseBody(buf('<xml/>'), 'text/xml', ['raw'])).toBeUndefined();
  });

  it('an empty body is undefined whatever its type', () => {
    expect(parseBody(Buffer.alloc(0), 'application/json', ['json'])).toBeUndefined();
    expect(parseBody(Buffer.alloc(0), 'text/plain', ['json'])).toBeUndefined();
  });

  it('mediaType drops parameters and case', () => {
    expect(mediaType('Application/JSON; charset=UTF-8')).toBe('application/json');
    expect(mediaType(undefined)).toBe('');
  });
});
