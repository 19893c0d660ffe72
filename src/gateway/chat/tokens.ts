/**
 * Client tokens (one customer in one chat session) and agent tokens (one agent of one tenant): both
 * HS256 JWTs signed with ONE key that every node of a deployment shares, `nexus.chat.tokenKey`, or
 * one generated once into the data dir. The client token carries the claims the suite's widgets
 * expect (`sessionId`, `participantId`, `transportId`).
 */
import { resolve } from 'node:path';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { NexusConfig } from '../../shared/config.js';
import { generatedOnce, randomToken } from '../../shared/data-dir.js';
import { AppError } from '../../shared/errors.js';

const ISSUER = 'nexus';
const CLIENT_AUDIENCE = 'nexus:consumer';
const AGENT_AUDIENCE = 'nexus:agent';
const ALG = 'HS256';

export interface ClientTokenClaims {
  sessionId: string;
  participantId: string;
  transportId: string;
  conversationId: string;
  ccid: string;
}

export interface AgentTokenClaims {
  ccid: string;
  agentId: string;
  /** Shown to the customer as the agent's nickname. */
  name?: string;
  /** When the token was issued (seconds, verified tokens only): an agent provisioned again later refuses it. */
  issuedAt?: number;
}

/** The signing key: from config, or generated once into the data dir (shared by nodes on one disk). */
export function tokenKey(config: Pick<NexusConfig, 'dataDir' | 'chat'>): Uint8Array {
  const configured = config.chat.tokenKey;
  if (configured) {
    if (configured.length < 32) throw new Error('nexus.chat.tokenKey must be at least 32 characters');
    return new TextEncoder().encode(configured);
  }
  return new TextEncoder().encode(generatedOnce(resolve(config.dataDir), 'token.key', () => randomToken(32)));
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200;

export class ChatTokens {
  constructor(
    private readonly key: Uint8Array,
    private readonly ttl: { clientSeconds: number; agentSeconds: number } = {
      clientSeconds: 86_400,
      agentSeconds: 43_200,
    },
  ) {}

  static fromConfig(config: Pick<NexusConfig, 'dataDir' | 'chat'>): ChatTokens {
    return new ChatTokens(tokenKey(config), {
      clientSeconds: config.chat.clientTokenTtl,
      agentSeconds: config.chat.agentTokenTtl,
    });
  }

  signClientToken(c: ClientTokenClaims): Promise<string> {
    return new SignJWT({ ...c })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(CLIENT_AUDIENCE)
      .setSubject(c.participantId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttl.clientSeconds}s`)
      .sign(this.key);
  }

  /** The claims of a valid client token; INVALID_CLIENT_TOKEN otherwise (also for an agent token). */
  async verifyClientToken(token: unknown): Promise<ClientTokenClaims> {
    const p = await this.verify(token, CLIENT_AUDIENCE, 'INVALID_CLIENT_TOKEN');
    if (
      !str(p.sessionId) ||
      !str(p.participantId) ||
      !str(p.conversationId) ||
      !str(p.ccid) ||
      !str(p.transportId)
    ) {
      throw new AppError('INVALID_CLIENT_TOKEN');
    }
    return {
      sessionId: p.sessionId,
      participantId: p.participantId,
      transportId: p.transportId,
      conversationId: p.conversationId,
      ccid: p.ccid,
    };
  }

  /** An agent token (for `Authorization: Bearer` and the `/agent` socket auth `{ token }`). */
  signAgentToken(c: AgentTokenClaims, ttlSeconds = this.ttl.agentSeconds): Promise<string> {
    return new SignJWT({ ccid: c.ccid, agentId: c.agentId, ...(c.name ? { name: c.name } : {}) })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AGENT_AUDIENCE)
      .setSubject(c.agentId)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.key);
  }

  async verifyAgentToken(token: unknown): Promise<AgentTokenClaims> {
    const p = await this.verify(token, AGENT_AUDIENCE, 'INVALID_AGENT_TOKEN');
    if (!str(p.ccid) || !str(p.agentId)) throw new AppError('INVALID_AGENT_TOKEN');
    return {
      ccid: p.ccid,
      agentId: p.agentId,
      ...(str(p.name) ? { name: p.name } : {}),
      ...(typeof p.iat === 'number' ? { issuedAt: p.iat } : {}),
    };
  }

  private async verify(
    token: unknown,
    audience: string,
    error: 'INVALID_CLIENT_TOKEN' | 'INVALID_AGENT_TOKEN',
  ): Promise<Record<string, unknown>> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw new AppError(error);
    try {
      const { payload } = await jwtVerify(token.replace(/^Bearer\s+/i, ''), this.key, {
        algorithms: [ALG],
        issuer: ISSUER,
        audience,
      });
      return payload as Record<string, unknown>;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError)
        throw new AppError(error, undefined, undefined, { cause: err });
      throw err;
    }
  }
}
