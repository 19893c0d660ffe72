/**
 * The HTTP layer on uWebSockets.js: reads headers synchronously (uWS forbids later access), streams
 * the body with a size limit, never writes to an aborted response, wraps answers in the envelope,
 * handles CORS and propagates `X-B3-TraceId` into logs and answers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import uWS from 'uWebSockets.js';
import { AppError, toAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter, histogram, type Registry } from '../metrics.js';
import { parseBody, refuseNul } from './body.js';
import type { Router } from './router.js';
import { type HttpContext, isRaw, type Reply } from './types.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  bodyLimit: number;
  corsOrigins: string;
  log: Logger;
  registry?: Registry;
  /** Metric name prefix (`nexus`, `athena`). */
  metricPrefix?: string;
}

const statusLine = (s: number) => `${s} ${STATUS_CODES[s] ?? 'Unknown'}`;
// uWS writes headers as given: a CR or LF from a handler (echoing client input) would split the response.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerValue = (v: string) => String(v).replace(/[\r\n\0]/g, '');
const TRACE_RE = /^[0-9a-f]{16}([0-9a-f]{16})?$/i;

export class HttpServer {
  readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | undefined;
  private _port = 0;
  private draining = false;
  private readonly requests;
  private readonly errors;
  private readonly duration;

  constructor(
    private readonly router: Router,
    private readonly opts: HttpServerOptions,
  ) {
    this.app = uWS.App();
    const p = opts.metricPrefix ?? 'nexus';
    const reg = opts.registry;
    this.requests = reg
      ? counter(reg, `${p}_request_total`, 'The total number of HTTP requests.', ['method', 'status'])
      : undefined;
    this.errors = reg
      ? counter(reg, `${p}_errors_total`, 'The total number of HTTP requests that resulted in an error.', [
          'method',
          'status',
          'code',
        ])
      : undefined;
    this.duration = reg
      ? histogram(
          reg,
          `${p}_http_request_duration_seconds`,
          'HTTP request duration.',
          ['method'],
          [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        )
      : undefined;
    this.app.any('/*', (res, req) => this.handle(res, req));
  }

  get port(): number {
    return this._port;
  }

  /** Routes answer 503 SHUTTING_DOWN from now on (health probes excepted). */
  drain(): void {
    this.draining = true;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.opts.host, this.opts.port, (sock) => {
        if (!sock) {
          reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port}`));
          return;
        }
        this.listenSocket = sock;
        this._port = uWS.us_socket_local_port(sock);
        resolve(this._port);
      });
    });
  }

  close(): void {
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    (this.app as unknown as { close?: () => void }).close?.();
  }

  private corsOrigin(origin: string | undefined): string | undefined {
    if (!origin) return undefined;
    const allowed = this.opts.corsOrigins.split(',').map((s) => s.trim());
    if (allowed.includes('*')) return origin;
    return allowed.includes(origin) ? origin : undefined;
  }

  private handle(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    const started = process.hrtime.bigint();
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    });
    const incomingTrace = headers['x-b3-traceid'];
    const traceId =
      incomingTrace && TRACE_RE.test(incomingTrace) ? incomingTrace : randomBytes(8).toString('hex');
    const operationId = randomUUID();
    const origin = this.corsOrigin(headers.origin);
    let aborted = false;
    let answered = false;
    res.onAborted(() => {
      aborted = true;
    });

    const send = (
      status: number,
      body: string | Buffer,
      contentType: string,
      extra?: Record<string, string>,
    ) => {
      if (aborted || answered) return;
      answered = true;
      res.cork(() => {
        res.writeStatus(statusLine(status));
        res.writeHeader('content-type', contentType);
        res.writeHeader('x-b3-traceid', traceId);
        if (origin) {
          res.writeHeader('access-control-allow-origin', origin);
          res.writeHeader('vary', 'Origin');
          res.writeHeader(
            'access-control-expose-headers',
            'Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-B3-TraceId',
          );
        }
        for (const [k, v] of Object.entries(extra ?? {})) {
          if (HEADER_NAME.test(k) && v !== undefined) res.writeHeader(k, headerValue(v));
        }
        res.end(method === 'HEAD' ? '' : body);
      });
      this.requests?.inc({ method, status: String(status) });
      this.duration?.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
    };

    const sendError = (err: unknown, log: Logger, headers: Record<string, string> = {}) => {
      const e = toAppError(err);
      if (e.http >= 500) log.error({ err: (e.cause as Error) ?? e, code: e.code }, 'request failed');
      else log.debug({ code: e.code, msg: e.message }, 'request refused');
      this.errors?.inc({ method, status: String(e.http), code: String(e.code) });
      const extra: Record<string, string> = {
        ...headers,
        ...((e.details?.headers as Record<string, string>) ?? {}),
      };
      // Headers in details go to the response headers, not into the body.
      const { headers: _headers, ...rest } = e.details ?? {};
      const details = e.details ? rest : undefined;
      const status = { code: e.code, name: e.errorName, message: e.message };
      let body: string;
      try {
        body = JSON.stringify({
          status: { ...status, ...(details && Object.keys(details).length ? { details } : {}) },
          operationId,
        });
      } catch {
        // Details that do not serialise are dropped rather than failing the answer.
        body = JSON.stringify({ status, operationId });
      }
      send(e.http, body, 'application/json', extra);
    };

    const log = this.opts.log.child({ traceId, method, path: url });

    if (method === 'OPTIONS') {
      if (aborted) return;
      answered = true;
      res.cork(() => {
        res.writeStatus('204 No Content');
        if (origin) {
          res.writeHeader('access-control-allow-origin', origin);
          res.writeHeader('vary', 'Origin');
          res.writeHeader('access-control-allow-methods', 'GET, POST, PUT, DELETE, OPTIONS');
          res.writeHeader(
            'access-control-allow-headers',
            headers['access-control-request-headers'] ||
              'content-type, authorization, x-api-key, x-ccid, x-nexus-client-key, x-b3-traceid',
          );
          res.writeHeader('access-control-max-age', '600');
        }
        res.end();
      });
      return;
    }

    const found = this.router.match(method, url);
    if (!found || 'allowed' in found) {
      // Drain nothing: uWS discards an unread body when the response ends.
      sendError(
        found
          ? new AppError('METHOD_NOT_ALLOWED', undefined, { headers: { allow: found.allowed.join(', ') } })
          : new AppError('NOT_FOUND'),
        log,
      );
      return;
    }
    if (this.draining && !url.startsWith('/health')) {
      sendError(new AppError('SHUTTING_DOWN'), log);
      return;
    }

    const { route, params } = found;
    try {
      for (const [k, v] of Object.entries(params)) refuseNul(v, k);
      for (const [k, v] of query) {
        refuseNul(k, 'a query key');
        refuseNul(v, k);
      }
    } catch (err) {
      sendError(err, log);
      return;
    }
    const limit = route.options.bodyLimit ?? this.opts.bodyLimit;
    const declared = Number(headers['content-length'] ?? '0');
    if (declared > limit) {
      sendError(new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`), log);
      return;
    }

    const ctxState: Record<string, unknown> = {};
    const stateHeaders = () => (ctxState.responseHeaders as Record<string, string> | undefined) ?? {};
    const run = async (raw: Buffer) => {
      try {
        const body = parseBody(raw, headers['content-type'], route.options.body ?? ['json', 'form']);
        const ctx: HttpContext = {
          method,
          path: url,
          params,
          query,
          headers,
          rawBody: raw,
          body,
          ip: Buffer.from(res.getRemoteAddressAsText()).toString(),
          traceId,
          operationId,
          log,
          state: ctxState,
        };
        const reply: Reply = await route.handler(ctx);
        if (isRaw(reply)) {
          send(reply.status ?? 200, reply.raw, reply.contentType, { ...stateHeaders(), ...reply.headers });
        } else {
          const status = reply.status ?? 200;
          send(
            status,
            status === 204
              ? ''
              : JSON.stringify({ status: { code: 0 }, data: reply.data ?? {}, operationId }),
            'application/json',
            { ...stateHeaders(), ...reply.headers },
          );
        }
      } catch (err) {
        sendError(err, log, stateHeaders());
      }
    };

    if (method === 'GET' || method === 'HEAD' || (method === 'DELETE' && !declared)) {
      void run(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (answered || aborted) return;
      size += chunk.byteLength;
      if (size > limit) {
        sendError(new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`), log);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (isLast) void run(Buffer.concat(chunks, size));
    });
  }
}
