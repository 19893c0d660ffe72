/**
 * Test helpers for plugin authors (and for the gateway's own provider tests):
 *
 * - `startFakeServer(handler)`: an HTTP server on port 0 that records every request, answers what
 *   the handler says, and can fail on demand (a provider that is down, or that hangs);
 * - `runPlugin(plugin, config)`: a ready, guarded instance of a plugin, built by the same host the
 *   gateway uses (config checked by the plugin's schema, calls under a timeout, errors contained),
 *   with an in-memory key-value store;
 * - `hubSignature(secret, body)`: the `X-Hub-Signature` value the gateway's webhooks carry.
 */
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../shared/logger.js';
import { MemoryKeyValueStore } from '../shared/state/memory.js';
import { PluginHost } from './host.js';
import type { KindImplementations, PluginDefinition, PluginKind } from './sdk.js';
import type { HttpClient, PluginKv } from './types.js';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  json<T = any>(): T;
  form(): URLSearchParams;
}

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Never answer (until the server closes): a provider that hangs. */
  hang?: boolean;
}

export type FakeHandler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request received, in order (including the ones answered with a failure). */
  readonly requests: RecordedRequest[];
  /** Answers the next `count` requests with `reply` (default a 503) instead of the handler's. */
  failNext(count: number, reply?: FakeReply): void;
  /** Answers every request with `reply` (default a 503) until `recover()`. */
  failAll(reply?: FakeReply): void;
  recover(): void;
  /** Resolves once at least `count` requests have arrived (rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

const DOWN: FakeReply = { status: 503, body: { error: 'unavailable' } };

export async function startFakeServer(
  handler: FakeHandler = () => ({ status: 200, body: {} }),
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let failing = 0;
  let failForever = false;
  let failReply: FakeReply = DOWN;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'http://fake');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        path: u.pathname,
        query: u.searchParams,
        headers,
        body,
        json: () => JSON.parse(body),
        form: () => new URLSearchParams(body),
      };
      requests.push(rec);
      events.emit('request');
      let reply: FakeReply;
      if (failForever || failing > 0) {
        if (failing > 0) failing--;
        reply = failReply;
      } else {
        try {
          reply = await handler(rec);
        } catch (err) {
          reply = { status: 500, body: { error: (err as Error).message } };
        }
      }
      if (reply.hang) return;
      const payload =
        reply.body === undefined
          ? ''
          : typeof reply.body === 'string'
            ? reply.body
            : JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, {
        ...(typeof reply.body === 'string' || reply.body === undefined
          ? {}
          : { 'content-type': 'application/json' }),
        ...(reply.headers ?? {}),
      });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, reply = DOWN) {
      failing = count;
      failReply = reply;
    },
    failAll(reply = DOWN) {
      failForever = true;
      failReply = reply;
    },
    recover() {
      failForever = false;
      failing = 0;
    },
    waitForRequests(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('request', check);
          reject(new Error(`expected ${count} requests, got ${requests.length} in ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (requests.length < count) return;
          clearTimeout(timer);
          events.off('request', check);
          resolve(requests.slice());
        };
        events.on('request', check);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface RunPluginOptions {
  /** The tenant the instance serves (default `test-tenant`). */
  ccid?: string;
  /** Longest a call may take before it fails as the gateway would fail it (default 15 s). */
  callTimeoutMs?: number;
  http?: HttpClient;
  log?: Logger;
}

export interface PluginRun<K extends PluginKind> {
  /** The instance, guarded as in the gateway: timeouts, errors turned into PluginError. */
  instance: KindImplementations[K];
  /** The instance's own key-value namespace (in memory), as the plugin sees it. */
  kv: PluginKv;
}

/**
 * Builds a plugin instance from `config` (the `{ url, data, secret }` of the service it would be
 * provisioned as, plus `services` for the companions a built-in reads) exactly as the gateway
 * does. A config the plugin's schema refuses throws, as provisioning it would fail its first use.
 */
export async function runPlugin<K extends PluginKind>(
  plugin: PluginDefinition<K>,
  config: {
    url?: string;
    data?: Record<string, unknown>;
    secret?: Record<string, unknown>;
    services?: Record<string, unknown>;
  },
  opts: RunPluginOptions = {},
): Promise<PluginRun<K>> {
  const kv = new MemoryKeyValueStore();
  const ccid = opts.ccid ?? 'test-tenant';
  const companions = Object.keys(config.services ?? {});
  const host = new PluginHost({
    log: opts.log ?? createLogger({ level: 'silent' }),
    kv,
    http: opts.http,
    callTimeoutMs: opts.callTimeoutMs,
    services: {
      async getWithSecret(_ccid, name) {
        const c = name === SERVICE ? config : (config.services?.[name] as typeof config | undefined);
        return c ? { url: c.url ?? null, data: c.data ?? {}, secret: c.secret ?? {} } : undefined;
      },
    },
  });
  host.register(plugin);
  host.bind(SERVICE, plugin.name, companions);
  const instance = await host.instance(ccid, SERVICE, plugin.kind as K);
  // The same namespace the host gives the plugin.
  const prefix = `plugin:${plugin.name}:${ccid}:`;
  return {
    instance,
    kv: {
      get: (k) => kv.get(prefix + k),
      set: (k, v, ttl) => kv.set(prefix + k, v, ttl),
      delete: (k) => kv.delete(prefix + k),
    },
  };
}

const SERVICE = 'Plugin-under-test';

/** `sha1=<lower-case hex HMAC-SHA1 of the body>`: what `X-Hub-Signature` carries. */
export function hubSignature(secret: string, body: string | Buffer): string {
  return `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
}

export { PluginError } from './types.js';
