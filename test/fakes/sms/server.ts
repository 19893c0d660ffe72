/**
 * The recording HTTP server under every SMS provider fake: node:http on port 0, every request kept
 * (method, path, headers, raw body), answers decided by the fake, and failures on demand (the next
 * n requests, or all of them until told otherwise, answer a chosen status).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  raw: Buffer;
  /** Form fields (first value of each) when the body was form-encoded. */
  form: Record<string, string>;
  json: any;
  /** The status the fake answered, and the body it answered with. */
  status: number;
  answer?: any;
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Responder = (req: Recorded) => Answer | Promise<Answer>;

export class RecordingServer {
  readonly requests: Recorded[] = [];
  url = '';
  private server: Server;
  private failures: Array<number> = [];
  private down: number | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly respond: Responder) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The next `n` requests answer `status`. */
  failNext(n: number, status = 503): void {
    for (let i = 0; i < n; i++) this.failures.push(status);
  }

  /** Every request answers `status` until `recover()`. */
  goDown(status = 503): void {
    this.down = status;
  }

  recover(): void {
    this.down = undefined;
    this.failures = [];
  }

  /** Resolves with the requests matching `test` once there are at least `count` of them. */
  until(test: (r: Recorded) => boolean, count = 1, ms = 15_000): Promise<Recorded[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `fake: ${count} matching request(s) not received within ${ms} ms (got ${this.requests.filter(test).length})`,
            ),
          ),
        ms,
      );
      const check = () => {
        const found = this.requests.filter(test);
        if (found.length >= count) {
          clearTimeout(timer);
          resolve(found);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
    const form: Record<string, string> = {};
    let json: unknown;
    if (/x-www-form-urlencoded/.test(headers['content-type'] ?? '')) {
      for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) form[k] ??= v;
    } else if (/json/.test(headers['content-type'] ?? '')) {
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    const rec: Recorded = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      raw,
      form,
      json,
      status: 0,
    };
    let answer: Answer;
    const failure = this.down ?? this.failures.shift();
    if (failure !== undefined) answer = { status: failure, body: { error: 'failing on purpose' } };
    else answer = await this.respond(rec);
    rec.status = answer.status;
    rec.answer = answer.body;
    // Recorded after the answer is chosen, so a waiter sees only requests the fake has judged.
    this.requests.push(rec);
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
    res.end(
      answer.body === undefined
        ? ''
        : typeof answer.body === 'string'
          ? answer.body
          : JSON.stringify(answer.body),
    );
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
