/**
 * Light clients for the generators: Node's `ws` plus the same Socket.IO v5 framing helpers the k6
 * scripts use, so one generator process can hold tens of thousands of sockets and the framing the
 * k6 users run is the framing the harness exercises.
 */
import WebSocket from 'ws';
import { SocketIoConnection, socketUrl } from '../../k6/lib/socketio.js';

export const SOCKET_PATH = '/chat/v3/socket.io';

/** One WebSocket joined to one socket.io namespace. */
export class SioClient {
  private constructor(
    readonly ws: WebSocket,
    readonly io: SocketIoConnection,
    readonly nsp: string,
    readonly connectData: any,
  ) {}

  static open(baseUrl: string, nsp: string, auth: unknown, timeoutMs = 30_000): Promise<SioClient> {
    const ws = new WebSocket(socketUrl(baseUrl, SOCKET_PATH), { perMessageDeflate: false });
    const io = new SocketIoConnection(ws);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) io.onFrame(data.toString());
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`${nsp}: no namespace connect within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        ws.terminate();
        reject(e);
      };
      ws.once('error', fail);
      ws.once('close', () => fail(new Error(`${nsp}: closed before the namespace connect`)));
      ws.once('open', () =>
        io.connect(
          nsp,
          auth,
          (data) => {
            clearTimeout(timer);
            ws.removeAllListeners('close');
            ws.removeAllListeners('error');
            ws.on('error', () => undefined);
            resolve(new SioClient(ws, io, nsp, data));
          },
          (err) => fail(new Error(`${nsp}: connect refused: ${JSON.stringify(err)}`)),
        ),
      );
    });
  }

  on(event: string, fn: (...args: any[]) => void): void {
    this.io.on(this.nsp, event, fn);
  }

  emit(event: string, payload: unknown, ack?: (a: any) => void): void {
    this.io.emit(this.nsp, event, [payload], ack);
  }

  request<T = any>(event: string, payload: unknown, timeoutMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${event}: no ack within ${timeoutMs} ms`)), timeoutMs);
      this.emit(event, payload, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
  }

  /** Drops the connection without a close handshake, as a lost network does. */
  terminate(): void {
    this.ws.terminate();
  }
}

/** A plain WebSocket (the raw uWS relay baseline). */
export function openRaw(url: string, timeoutMs = 30_000): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no WebSocket open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.once('open', () => {
      clearTimeout(timer);
      ws.on('error', () => undefined);
      resolve(ws);
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** JSON REST call against the gateway; throws with the body on a non-2xx answer. */
export async function rest(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; json?: unknown; form?: string } = {},
): Promise<any> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = opts.form;
  }
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    // The bench gives its keys a large bucket; a 429 here means a limit we did not raise, so wait as told.
    if (res.status === 429 && attempt < 5) {
      await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
      continue;
    }
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}
