import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { ChatTokens, tokenKey } from './tokens.js';

const key = new TextEncoder().encode('k'.repeat(32));
const tokens = new ChatTokens(key);
const client = {
  sessionId: '2b0a1f4e-8d3c-4a55-9e0b-0d6f3f1b2c44',
  participantId: '6f1c7e22-1c0e-4d7a-8a3d-8f0a9d3b1e55',
  transportId: '0c3f5b9a-7e2d-4f61-b0c8-2a9e4d7f6a66',
  conversationId: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c77',
  ccid: 'tenant-1',
};
const name = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e) => (e instanceof AppError ? e.errorName : String(e)),
  );

describe('chat tokens', () => {
  it('signs client tokens as HS256 JWTs with the widget claims and verifies them', async () => {
    const t = await tokens.signClientToken(client);
    const [h, p] = t
      .split('.')
      .slice(0, 2)
      .map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
    expect(h.alg).toBe('HS256');
    expect(p).toMatchObject({
      sessionId: client.sessionId,
      participantId: client.participantId,
      transportId: client.transportId,
    });
    expect(await tokens.verifyClientToken(t)).toEqual(client);
  });

  it('keeps client and agent tokens apart and refuses anything forged, expired or malformed', async () => {
    const before = Math.floor(Date.now() / 1000);
    const agent = await tokens.signAgentToken({ ccid: 'tenant-1', agentId: 'a1', name: 'Grace' });
    const verified = await tokens.verifyAgentToken(agent);
    expect(verified).toEqual({
      ccid: 'tenant-1',
      agentId: 'a1',
      name: 'Grace',
      issuedAt: expect.any(Number),
    });
    // When it was issued, so that an agent provisioned again later can refuse it.
    expect(verified.issuedAt).toBeGreaterThanOrEqual(before);
    expect(verified.issuedAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(await tokens.verifyAgentToken(`Bearer ${agent}`)).toMatchObject({ agentId: 'a1' });
    expect(await name(tokens.verifyClientToken(agent))).toBe('INVALID_CLIENT_TOKEN');
    expect(await name(tokens.verifyAgentToken(await tokens.signClientToken(client)))).toBe(
      'INVALID_AGENT_TOKEN',
    );
    const other = new ChatTokens(new TextEncoder().encode('x'.repeat(32)));
    expect(await name(other.verifyClientToken(await tokens.signClientToken(client)))).toBe(
      'INVALID_CLIENT_TOKEN',
    );
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(client)).toString('base64url')}.`;
    for (const bad of [none, 'x', '', 7, undefined, null, { a: 1 }, 'a'.repeat(5000)]) {
      expect(await name(tokens.verifyClientToken(bad))).toBe('INVALID_CLIENT_TOKEN');
    }
    const expired = await new SignJWT({ ...client })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('nexus')
      .setAudience('nexus:consumer')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(key);
    expect(await name(tokens.verifyClientToken(expired))).toBe('INVALID_CLIENT_TOKEN');
    const missing = await new SignJWT({ sessionId: client.sessionId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('nexus')
      .setAudience('nexus:consumer')
      .setExpirationTime('1h')
      .sign(key);
    expect(await name(tokens.verifyClientToken(missing))).toBe('INVALID_CLIENT_TOKEN');
  });

  it('uses the configured key, or one generated once into the data dir and shared by every reader', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
    try {
      const chat = { tokenKey: '', clientTokenTtl: 60, agentTokenTtl: 60 } as never;
      const a = tokenKey({ dataDir: dir, chat });
      const b = tokenKey({ dataDir: dir, chat });
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(a.length).toBeGreaterThanOrEqual(32);
      expect(() => tokenKey({ dataDir: dir, chat: { tokenKey: 'short' } as never })).toThrow(/at least 32/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
