import { describe, expect, it } from 'vitest';
import { outsideSecret, restoreSealedFields, takeSealedFields } from './sealed-fields.js';

const patterns = [
  ['data', 'apiKey'],
  ['data', 'endpoints', '*', 'password'],
  ['data', 'keys', '*'],
  ['secret', 'token'],
  ['services', 'PurecloudIDP', 'secret'],
];

describe('sealed fields', () => {
  it('keeps only the paths into url and data (the root means both)', () => {
    expect(outsideSecret(patterns)).toEqual([
      ['data', 'apiKey'],
      ['data', 'endpoints', '*', 'password'],
      ['data', 'keys', '*'],
    ]);
    expect(outsideSecret([[]])).toEqual([['url'], ['data']]);
  });

  it('takes the values out and puts them back where they were', () => {
    const body = {
      url: 'https://x.example',
      data: {
        region: 'eu',
        apiKey: 'K',
        endpoints: [{ name: 'a', password: 'P' }, { name: 'b' }],
        keys: ['k1', 'k2'],
      },
      secret: { token: 'S' },
    };
    const { body: stored, fields } = takeSealedFields(body, patterns);
    expect(stored).toEqual({
      url: 'https://x.example',
      data: { region: 'eu', endpoints: [{ name: 'a' }, { name: 'b' }], keys: [null, null] },
      secret: { token: 'S' },
    });
    expect(fields.map((f) => f.path.join('.'))).toEqual([
      'data.apiKey',
      'data.keys.0',
      'data.keys.1',
      'data.endpoints.0.password',
    ]);
    expect(body.data.apiKey).toBe('K'); // the given body is not changed
    const restored = restoreSealedFields({ url: stored.url ?? null, data: stored.data }, fields);
    expect(restored).toEqual({ url: body.url, data: body.data });
  });

  it('seals a secret url, and leaves a body without secret fields as it is', () => {
    const body = { url: 'https://hooks.example/T0K3N', data: {}, secret: {} };
    const { body: stored, fields } = takeSealedFields(body, [['url']]);
    expect(stored.url).toBeUndefined();
    expect(restoreSealedFields({ url: null, data: {} }, fields).url).toBe(body.url);
    const plain = { data: { region: 'eu' }, secret: {} };
    expect(takeSealedFields(plain, patterns)).toEqual({ body: plain, fields: [] });
  });

  it('treats a "__proto__" key as data, never as the prototype', () => {
    const data = JSON.parse('{"endpoints":{"__proto__":{"password":"P"}}}');
    const { body: stored, fields } = takeSealedFields({ data, secret: {} }, [
      ['data', 'endpoints', '*', 'password'],
    ]);
    expect(JSON.stringify(stored.data)).toBe('{"endpoints":{"__proto__":{}}}');
    const restored = restoreSealedFields({ url: null, data: stored.data }, fields);
    expect(JSON.stringify(restored.data)).toBe('{"endpoints":{"__proto__":{"password":"P"}}}');
    expect(({} as Record<string, unknown>).password).toBeUndefined();
  });
});
