/**
 * Admin credentials as OIDC JWTs, against a fake issuer started here: node:http on port 0 serving
 * the discovery document and the JWKS, tokens signed with jose.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, type KeyLike, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from '../helpers/engines.js';
import { collectLogs } from '../helpers/logs.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { createTenant } from '../helpers/tenants.js';

interface FakeIssuer {
  issuer: string;
  hits: { discovery: number; jwks: number };
  sign(
    payload: JWTPayload,
    opts?: { kid?: string; key?: KeyLike; issuer?: string; exp?: number | string },
  ): Promise<string>;
  close(): Promise<void>;
}

async function startIssuer(): Promise<FakeIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const hits = { discovery: 0, jwks: 0 };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery++;
      res.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/keys`,
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    } else if (req.url === '/keys') {
      hits.jwks++;
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    hits,
    sign: (payload, opts = {}) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
        .setIssuer(opts.issuer ?? issuer)
        .setIssuedAt()
        .setExpirationTime(opts.exp ?? '5m')
        .sign(opts.key ?? privateKey),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each(engines())('OIDC admin credentials on %s engines', (engine) => {
  let idp: FakeIssuer;
  let t: TestNexus;
  const logs = collectLogs();
  const count = async () => Number((await t.nexus.db.query('SELECT count(*) AS n FROM api_keys')).rows[0].n);

  beforeAll(async () => {
    idp = await startIssuer();
    t = await startNexus({
      engine,
      logDestination: logs.stream,
      nexus: { auth: { oidc: { issuer: idp.issuer, audience: 'nexus' } } },
    });
  });
  afterAll(async () => {
    await t?.cleanup();
    await idp?.close();
  });

  it('accepts a JWT of the issuer, with or without Bearer, and keeps the JWKS cached', async () => {
    const { ccid } = await createTenant(t);
    const token = await idp.sign({ sub: 'ops-user', aud: 'nexus' });
    for (const authorization of [`Bearer ${token}`, token]) {
      const r = await api(t.url, 'POST', '/nexus/v3/apikeys', {
        headers: { authorization },
        json: { enabled: true, tenant: ccid, name: 'by oidc', permissions: ['nexus:consumer:chat'] },
      });
      expect(r.status).toBe(201);
      expect(r.body.createdby).toBe('oidc:ops-user');
    }
    const read = await api(t.url, 'GET', `/nexus/v3/provisioning/tenants/${ccid}`, {
      headers: { authorization: `Bearer ${await idp.sign({ sub: 'other', aud: 'nexus' })}` },
    });
    expect(read.status).toBe(200);
    expect(idp.hits).toEqual({ discovery: 1, jwks: 1 });
    expect(logs.text()).not.toContain(token);
  });

  it('refuses a wrong issuer, a wrong audience, an expired token, an unknown kid, a missing exp, alg none', async () => {
    const { ccid } = await createTenant(t);
    const before = await count();
    const other = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: 'x', aud: 'nexus', iss: idp.issuer, exp: now + 300 }),
    ).toString('base64url')}.`;
    const noExp = await new SignJWT({ sub: 'x', aud: 'nexus' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(idp.issuer)
      .sign((await generateKeyPair('RS256')).privateKey);
    const bad = {
      issuer: await idp.sign({ sub: 'x', aud: 'nexus' }, { issuer: 'https://evil.example.com' }),
      audience: await idp.sign({ sub: 'x', aud: 'someone-else' }),
      expired: await idp.sign({ sub: 'x', aud: 'nexus' }, { exp: now - 120 }),
      unknownKid: await idp.sign({ sub: 'x', aud: 'nexus' }, { kid: 'k-unknown', key: other.privateKey }),
      wrongKey: await idp.sign({ sub: 'x', aud: 'nexus' }, { key: other.privateKey }),
      noExp,
      none,
    };
    for (const [why, token] of Object.entries(bad)) {
      const r = await api(t.url, 'POST', '/nexus/v3/apikeys', {
        headers: { authorization: `Bearer ${token}` },
        json: { enabled: true, tenant: ccid, name: why, permissions: ['nexus:consumer:chat'] },
      });
      expect(r.status, why).toBe(401);
      expect(r.body.status.code, why).toBe(2002);
    }
    expect(await count()).toBe(before);
  });

  it('finds the keys at a configured jwksUri without discovery', async () => {
    const direct = await startNexus({
      engine,
      nexus: { auth: { oidc: { issuer: idp.issuer, jwksUri: `${idp.issuer}/keys`, audience: 'nexus' } } },
    });
    try {
      const discoveries = idp.hits.discovery;
      const r = await api(direct.url, 'GET', '/nexus/v3/provisioning/tenants', {
        headers: { authorization: await idp.sign({ sub: randomUUID(), aud: 'nexus' }) },
      });
      expect(r.status).toBe(200);
      expect(idp.hits.discovery).toBe(discoveries);
    } finally {
      await direct.cleanup();
    }
  });
});
