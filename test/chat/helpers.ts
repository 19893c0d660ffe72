/** Chat test helpers: sessions through the REST flow, real socket.io clients, awaiting events. */
import { io as connect, type Socket } from 'socket.io-client';
import {
  type AGENT_NAMESPACE,
  type ChatMessage,
  type CONSUMER_NAMESPACE,
  SOCKET_PATH,
} from '../../src/gateway/chat/events.js';
import { api, type TestNexus } from '../helpers/nexus.js';
import { createTenant, type TestTenant } from '../helpers/tenants.js';

export interface TestSession {
  sessionId: string;
  selfUri: string;
  clientToken: string;
  conversationId: string;
  participantId: string;
  /**
   * The conversation's last seq right after creation: routing may have posted notices (e.g. the
   * queue notice) before the customer's first message.
   */
  base: number;
}

export async function newSession(
  t: Pick<TestNexus, 'url'>,
  tenant: TestTenant,
  form = 'data[firstName]=Ada&data[lastName]=Lovelace&data[nickname]=ada&data[endpoint]=web&data[stream]=live',
): Promise<TestSession> {
  const r = await api(t.url, 'POST', '/nexus/v3/chat/sessions', {
    headers: { 'x-api-key': tenant.apiKey },
    form,
  });
  if (r.status !== 200) throw new Error(`session: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  const s = r.body.data;
  const self = await api(t.url, 'GET', s.selfUri, { headers: { 'x-nexus-client-key': s.clientToken } });
  if (self.status !== 200) throw new Error(`session read: HTTP ${self.status} ${JSON.stringify(self.body)}`);
  return { ...s, base: self.body.data.lastSeq };
}

export async function tenantWithSession(t: TestNexus): Promise<{ tenant: TestTenant; session: TestSession }> {
  const tenant = await createTenant(t);
  return { tenant, session: await newSession(t, tenant) };
}

/** A connected socket (rejects with the connect_error's data). */
export function socketFor(
  url: string,
  ns: typeof CONSUMER_NAMESPACE | typeof AGENT_NAMESPACE,
  auth: Record<string, unknown>,
  opts: { reconnection?: boolean; listen?: (s: Socket) => void } = {},
): Promise<Socket> {
  const s = connect(url + ns, {
    path: SOCKET_PATH,
    auth,
    transports: ['websocket'],
    reconnection: opts.reconnection ?? false,
    forceNew: true,
  });
  // Collect from the first packet on: a replay may follow the connect packet at once, in the same
  // read, before a listener added once this promise resolves could hear it.
  seenBy.set(s, collect(s));
  opts.listen?.(s);
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', (err: Error & { data?: unknown }) => {
      s.close();
      reject(Object.assign(err, { data: err.data }));
    });
  });
}

const seenBy = new WeakMap<Socket, ReturnType<typeof collect>>();

/** Every `message` a socket made by socketFor received since it was created. */
export function seen(s: Socket): ReturnType<typeof collect> {
  const c = seenBy.get(s);
  if (!c) throw new Error('not a socket made by socketFor');
  return c;
}

/** Collects every `message` event of a socket from now on. */
export function collect(s: Socket): {
  messages: ChatMessage[];
  waitFor(n: number, ms?: number): Promise<ChatMessage[]>;
} {
  const messages: ChatMessage[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  s.on('message', (m: ChatMessage) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (messages.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    messages,
    waitFor(n: number, ms = 10_000) {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`expected ${n} messages, got ${messages.length}: ${messages.map((m) => m.seq)}`),
            ),
          ms,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
  };
}

/** Emits with an ack (10 s timeout); the ack is returned as it came, for the test to check. */
export function emitAck(s: Socket, event: string, payload?: unknown): Promise<any> {
  return payload === undefined
    ? s.timeout(10_000).emitWithAck(event)
    : s.timeout(10_000).emitWithAck(event, payload);
}

export function once<T = unknown>(s: Socket, event: string, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    s.once(event, (p: T) => {
      clearTimeout(timer);
      resolve(p);
    });
  });
}
