/**
 * athena's client of the gateway (`athena.nexus.url`, `apiPrefix`, `apiKey`, `timeout`): a cluster
 * API key naming the tenant with `x-ccid` on every call. Answers are the gateway's envelope; a
 * refusal becomes a NexusError carrying the catalog name, so callers can tell "an agent has the
 * conversation" (BOT_NOT_IN_CONTROL) from a gateway that is down.
 */
import type { ConversationSummary } from '../gateway/chat/events.js';
import { createHttpClient } from '../plugins/http-client.js';
import type { HttpClient } from '../plugins/types.js';

export class NexusError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The catalog name (`BOT_NOT_IN_CONTROL`, …), when the gateway answered one. */
    readonly errorName?: string,
  ) {
    super(message);
    this.name = 'NexusError';
  }

  /** Worth retrying later (the gateway is down, overloaded, or rate-limits the key). */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

export interface NexusClientOptions {
  url: string;
  apiPrefix: string;
  apiKey: string;
  timeoutMs: number;
  http?: HttpClient;
}

export interface BotServiceAnswer {
  name: string;
  provider: string;
  url: string | null;
  data: Record<string, unknown>;
  secret?: Record<string, unknown>;
  version: string;
}

export interface BotMessage {
  clientMessageId?: string;
  text?: string;
  content?: Record<string, unknown>;
  nickname?: string;
  bot?: string;
  handoff?: { queue?: string; reason: string };
  /** What a customer's voice message said: a notice for the agents, tied to that message. */
  transcript?: { messageId: string; text: string };
}

export class NexusClient {
  private readonly http: HttpClient;
  private readonly base: string;

  constructor(private readonly opts: NexusClientOptions) {
    this.http = opts.http ?? createHttpClient(opts.timeoutMs);
    this.base = opts.url.replace(/\/+$/, '') + `/${opts.apiPrefix.replace(/^\/+|\/+$/g, '')}`;
  }

  get configured(): boolean {
    return !!this.opts.url && !!this.opts.apiKey;
  }

  private async call<T>(ccid: string, method: string, path: string, body?: unknown): Promise<T> {
    if (!this.configured) throw new NexusError('athena.nexus.url and athena.nexus.apiKey must be set', 0);
    let res: Awaited<ReturnType<HttpClient['request']>>;
    try {
      res = await this.http.request(this.base + path, {
        method,
        headers: {
          'x-api-key': this.opts.apiKey,
          'x-ccid': ccid,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      throw new NexusError(`the gateway is unreachable: ${(err as Error).message}`, 0);
    }
    let parsed: { status?: { code?: number; name?: string; message?: string }; data?: T } | undefined;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.status < 200 || res.status >= 300) {
      const s = parsed?.status;
      throw new NexusError(
        `${method} ${path}: HTTP ${res.status}${s?.message ? ` ${s.message}` : ''}`,
        res.status,
        s?.name,
      );
    }
    return parsed?.data as T;
  }

  connector(ccid: string): Promise<{ url: string; signingKey: string; source: string }> {
    return this.call(ccid, 'GET', '/ai/connector');
  }

  bot(ccid: string, name: string): Promise<BotServiceAnswer> {
    return this.call(ccid, 'GET', `/ai/bots/${encodeURIComponent(name)}`);
  }

  interaction(ccid: string, id: string): Promise<ConversationSummary> {
    return this.call(ccid, 'GET', `/interactions/${encodeURIComponent(id)}`);
  }

  postMessage(ccid: string, id: string, message: BotMessage): Promise<unknown> {
    return this.call(ccid, 'POST', `/interactions/${encodeURIComponent(id)}/messages`, message);
  }

  postSuggestions(
    ccid: string,
    id: string,
    body: { suggestions: Array<{ text: string; confidence?: number; content?: unknown }>; source?: string },
  ): Promise<unknown> {
    return this.call(ccid, 'POST', `/interactions/${encodeURIComponent(id)}/suggestions`, body);
  }

  route(ccid: string, id: string, target: { queue: string }): Promise<ConversationSummary> {
    return this.call(ccid, 'POST', `/interactions/${encodeURIComponent(id)}/route`, target);
  }

  done(ccid: string, id: string): Promise<unknown> {
    return this.call(ccid, 'POST', `/interactions/${encodeURIComponent(id)}/done`, {});
  }
}
