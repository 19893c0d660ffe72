import { describe, expect, it } from 'vitest';
import { matchSecretPaths, redact, secret, secretPathSegments, secretPaths, z } from './sdk.js';

const config = z.object({
  url: z.string().url(),
  data: z
    .object({
      region: z.string(),
      apiKey: secret(z.string().min(1)).optional(),
      endpoints: z.array(z.object({ name: z.string(), password: secret(z.string()) })).default([]),
      accounts: z.record(z.object({ token: secret(z.string()) })).optional(),
      auth: z
        .discriminatedUnion('type', [
          z.object({ type: z.literal('basic'), password: secret(z.string()) }),
          z.object({ type: z.literal('bearer'), token: secret(z.string()) }),
        ])
        .optional(),
      keys: z.array(secret(z.string())).optional(),
      signing: secret(z.object({ key: z.string(), alg: z.string() })).optional(),
    })
    .refine(() => true),
  secret: z.object({ token: secret(z.string()) }),
});

describe('secret fields', () => {
  it('are found anywhere in the schema, through wrappers, arrays, records and unions', () => {
    expect(secretPaths(config).sort()).toEqual(
      [
        'data.apiKey',
        'data.endpoints.*.password',
        'data.accounts.*.token',
        'data.auth.password',
        'data.auth.token',
        'data.keys.*',
        'data.signing',
        'secret.token',
      ].sort(),
    );
    expect(secretPaths(secret(z.object({ a: z.string() })))).toEqual(['(root)']);
    expect(secretPaths(z.object({ a: z.string(), b: z.array(z.number()) }))).toEqual([]);
  });

  it('does not loop on a recursive schema', () => {
    type Node = { name: string; pin?: string; children: Node[] };
    const node: z.ZodType<Node> = z.lazy(() =>
      z.object({ name: z.string(), pin: secret(z.string()).optional(), children: z.array(node) }),
    );
    const paths = secretPaths(node);
    expect(paths).toContain('pin');
    expect(paths).toContain('children.*.pin');
  });

  it('are matched in a value, outermost first, a path inside a taken one left out', () => {
    const value = {
      data: { signing: { key: 'k', alg: 'a' }, endpoints: [{ name: 'a', password: 'p' }], keys: ['x', 'y'] },
    };
    expect(matchSecretPaths(value, secretPathSegments(config))).toEqual([
      ['data', 'signing'],
      ['data', 'keys', '0'],
      ['data', 'keys', '1'],
      ['data', 'endpoints', '0', 'password'],
    ]);
    expect(
      matchSecretPaths(value, [
        ['data', 'signing'],
        ['data', 'signing', 'key'],
      ]),
    ).toEqual([['data', 'signing']]);
  });

  it('are redacted wherever they are, and nothing else is', () => {
    const value = {
      url: 'https://x.example',
      data: {
        region: 'eu',
        apiKey: 'K',
        endpoints: [
          { name: 'a', password: 'P1' },
          { name: 'b', password: 'P2' },
        ],
        accounts: { main: { token: 'T' } },
        auth: { type: 'basic', password: 'B' },
        keys: ['k1', 'k2'],
      },
      secret: { token: 'S' },
    };
    const out = redact(config, value);
    expect(out).toEqual({
      url: 'https://x.example',
      data: {
        region: 'eu',
        apiKey: '[redacted]',
        endpoints: [
          { name: 'a', password: '[redacted]' },
          { name: 'b', password: '[redacted]' },
        ],
        accounts: { main: { token: '[redacted]' } },
        auth: { type: 'basic', password: '[redacted]' },
        keys: ['[redacted]', '[redacted]'],
      },
      secret: { token: '[redacted]' },
    });
    expect(value.data.endpoints[0].password).toBe('P1'); // a copy: the config itself is untouched
    expect(redact(secret(z.string()), 'whole')).toBe('[redacted]');
  });
});
