/**
 * The customer's side of a chat, without any UI: the session (created over REST with the site's API
 * key), the `/consumer` socket with `{ clientToken, lastSeq }`, the REST flow as a fallback when the
 * socket cannot connect, and an outbox of sends not yet acknowledged.
 *
 * Nothing is lost or shown twice across reloads and network drops because:
 * - the session, the last seq received in order and the outbox are saved before anything is sent;
 * - a send keeps its `clientMessageId` until acked, and is resent with the same id (the server folds
 *   duplicates);
 * - messages are held by seq, so a replay of something already held changes nothing;
 * - `lastSeq` advances only on the server's ordered stream (socket or REST read), never on an ack,
 *   so a resume never skips a message that was still in flight;
 * - the `message` event is told in seq order: the customer's own message, known from its ack
 *   (socket ack or REST answer) before the stream has come that far, is shown at once in
 *   `messages()` (sorted) but told only when the stream reaches its seq, after any lower one the
 *   stream still had to bring (an agent's reply committed just before it). The stream always
 *   brings the customer's own messages, so nothing waits for long while it runs.
 * The client token lives in Web Storage and travels in the socket handshake and in headers only.
 */
import { io, type Socket } from 'socket.io-client';
import {
  CONSUMER_NAMESPACE,
  type ChatMessage,
  type ConsumerClientToServer,
  type ConsumerServerToClient,
  type ErrorBody,
  type Participant,
  SOCKET_PATH,
} from '../../src/gateway/chat/events.js';
import { ApiError, call } from '../shared/api.js';
import { newId } from '../shared/ids.js';

export interface PendingSend {
  clientMessageId: string;
  text: string;
  /** A chosen quick reply's payload: what the bot gets, while `text` (its title) is what people read. */
  payload?: string;
  /** A voice message, once uploaded: sent as a `File` message with this attachment. */
  attachment?: Attachment;
  /** ISO time the customer pressed send. */
  at: string;
  /** Set when the server refused it for good (it stays visible with a retry button). */
  failed?: ErrorBody;
}

/** An uploaded file as a `File` message names it (`content.attachments[0]`). */
export interface Attachment {
  url: string;
  mediaType: string;
  name: string;
}

/** The text a voice message carries, for agents and transcripts that cannot play it. */
export const VOICE_TEXT = 'Voice message';

export interface SavedChat {
  v: 1;
  selfUri?: string;
  clientToken?: string;
  lastSeq: number;
  messages: ChatMessage[];
  outbox: PendingSend[];
  open: boolean;
}

export type ChatStatus = 'idle' | 'connecting' | 'live' | 'polling' | 'offline' | 'ended';

export interface ChatEvents {
  message: (m: ChatMessage) => void;
  outbox: (pending: PendingSend[]) => void;
  status: (s: ChatStatus) => void;
  typing: (p: { from: Participant; typing: boolean }) => void;
  ended: (p: { reason?: string }) => void;
  error: (e: ErrorBody) => void;
}

export interface Customer {
  firstName?: string;
  lastName?: string;
  nickname?: string;
  email?: string;
}

export interface ChatClientOptions {
  /** The gateway's origin, e.g. https://nexus.example.com. */
  gateway: string;
  apiKey: string;
  endpoint: string;
  stream?: string;
  customer?: Customer;
  /** Custom keys sent with the session (`data[<key>]`). */
  userData?: Record<string, string>;
  storage?: Storage | null;
  /** REST poll period while the socket is down. */
  pollMs?: number;
  /** How long the socket may be down before the REST flow takes over (it keeps retrying meanwhile). */
  restFallbackMs?: number;
  /** Test hook: the socket.io `io` factory. */
  connect?: typeof io;
}

const MAX_KEPT = 500;
const SEND_TIMEOUT_MS = 10_000;

type Handler<K extends keyof ChatEvents> = ChatEvents[K];

export class ChatClient {
  private saved: SavedChat;
  private readonly key: string;
  private socket: Socket<ConsumerServerToClient, ConsumerClientToServer> | undefined;
  private status: ChatStatus = 'idle';
  private readonly handlers = new Map<keyof ChatEvents, Set<(...a: any[]) => void>>();
  private flushing = false;
  private flushAgain = false;
  private creating: Promise<void> | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Sessions dropped in a row for an auth error: stops a loop if the gateway refuses every token. */
  private resets = 0;
  private fallbackTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private typingSentAt = 0;
  private readonly held = new Set<number>();
  /** Seqs in `messages()` from an ack, not yet told: the stream has not reached them (see take). */
  private readonly waiting = new Set<number>();
  /** A REST read is running (`tick`). */
  private polling = false;
  /** A poll is due as soon as the running one is done (a REST answer is waiting for the stream). */
  private pollAgain = false;

  constructor(private readonly opts: ChatClientOptions) {
    this.key = `nexus.chat:${opts.gateway}:${opts.endpoint}`;
    this.saved = this.load();
    this.holdSaved();
  }

  on<K extends keyof ChatEvents>(event: K, fn: Handler<K>): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  private emit<K extends keyof ChatEvents>(event: K, ...args: Parameters<ChatEvents[K]>): void {
    for (const fn of this.handlers.get(event) ?? []) {
      try {
        fn(...args);
      } catch (err) {
        console.error('nexus widget: a handler failed', err);
      }
    }
  }

  /** The transcript held, in seq order (agent-only messages never get here). */
  messages(): ChatMessage[] {
    return this.saved.messages;
  }

  pending(): PendingSend[] {
    return this.saved.outbox;
  }

  get hasSession(): boolean {
    return Boolean(this.saved.clientToken && this.saved.selfUri);
  }

  get lastSeq(): number {
    return this.saved.lastSeq;
  }

  get connection(): ChatStatus {
    return this.status;
  }

  get wasOpen(): boolean {
    return this.saved.open;
  }

  setOpen(open: boolean): void {
    this.saved.open = open;
    this.persist();
  }

  /** Resumes a saved session (after a reload) and sends what the outbox still holds. */
  start(): void {
    this.stopped = false;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.onOnline);
    }
    if (this.hasSession) this.connect();
    else if (this.saved.outbox.some((p) => !p.failed)) void this.flush();
  }

  /**
   * Queues a message; it is on its way as soon as there is a session and a connection. `payload`
   * is a chosen quick reply's: it travels as `content.payload` for the bot, next to the title.
   */
  send(text: string, payload?: string): PendingSend | undefined {
    const trimmed = text.trim();
    if (!trimmed) return undefined;
    const p: PendingSend = {
      clientMessageId: newId(),
      text: trimmed.slice(0, 4000),
      ...(payload ? { payload: payload.slice(0, 1024) } : {}),
      at: new Date().toISOString(),
    };
    this.saved.outbox.push(p);
    // Saved before it leaves: a reload from here on resends it with the same id.
    this.persist();
    this.emit('outbox', this.saved.outbox);
    void this.flush();
    return p;
  }

  /**
   * Uploads a recording (`POST {selfUri}/media`, its type as Content-Type), then queues a `File`
   * message naming it. Resolves with the queued send (its `clientMessageId` names the message the
   * server echoes), or rejects with the ApiError of the upload (nothing is queued then).
   */
  async sendVoice(audio: Blob, mediaType: string): Promise<PendingSend> {
    await this.ensureSession();
    const upload = async () => {
      let res: Response;
      try {
        res = await fetch(this.abs(`${this.saved.selfUri}/media`), {
          method: 'POST',
          headers: { ...this.clientHeaders(), 'content-type': mediaType },
          body: audio,
          credentials: 'omit',
          cache: 'no-store',
        });
      } catch (err) {
        throw new ApiError(0, { code: 0, name: 'NETWORK', message: (err as Error).message, retryable: true });
      }
      const body = (await res.json().catch(() => undefined)) as
        | { status?: ErrorBody; data?: Attachment & { mediaId: string } }
        | undefined;
      if (!res.ok || !body?.data?.url) {
        const st = body?.status;
        throw new ApiError(res.status, {
          code: Number(st?.code ?? res.status),
          name: String(st?.name ?? 'HTTP_ERROR'),
          message: String(st?.message ?? `HTTP ${res.status}`),
          retryable: res.status === 429 || res.status >= 500,
        });
      }
      return body.data;
    };
    let media: Attachment;
    try {
      media = await upload();
    } catch (err) {
      const gone = err instanceof ApiError ? sessionGone(err.body) : undefined;
      if (gone !== 'ended') throw err;
      // The session ended meanwhile: the recording opens a new one, as a typed message would.
      this.finish((err as ApiError).message, gone);
      this.restart();
      await this.ensureSession();
      media = await upload();
    }
    const p: PendingSend = {
      clientMessageId: newId(),
      text: VOICE_TEXT,
      attachment: { url: media.url, mediaType: media.mediaType || mediaType, name: media.name },
      at: new Date().toISOString(),
    };
    this.saved.outbox.push(p);
    this.persist();
    this.emit('outbox', this.saved.outbox);
    void this.flush();
    return p;
  }

  /** Tries a refused send again (same id: if it did land, the server folds it). */
  retry(clientMessageId: string): void {
    const p = this.saved.outbox.find((x) => x.clientMessageId === clientMessageId);
    if (!p) return;
    p.failed = undefined;
    this.persist();
    this.emit('outbox', this.saved.outbox);
    void this.flush();
  }

  discard(clientMessageId: string): void {
    this.saved.outbox = this.saved.outbox.filter((x) => x.clientMessageId !== clientMessageId);
    this.persist();
    this.emit('outbox', this.saved.outbox);
  }

  /** Volatile and throttled: typing may be dropped, never stored. */
  typing(on: boolean): void {
    const now = Date.now();
    if (on && now - this.typingSentAt < 2000) return;
    if (!on && this.typingSentAt === 0) return;
    this.typingSentAt = on ? now : 0;
    if (this.socket?.connected) {
      this.socket.volatile.emit('typing', { typing: on });
    } else if (this.status === 'polling' && this.hasSession) {
      void call(this.abs(`${this.saved.selfUri}/messages`), {
        method: 'POST',
        headers: this.clientHeaders(),
        form: { 'data[type]': on ? 'TypingStarted' : 'TypingStopped' },
      }).catch(() => undefined);
    }
  }

  /** Ends the chat for good and forgets the session. */
  async end(): Promise<void> {
    const s = this.socket;
    if (s?.connected) {
      await s
        .timeout(SEND_TIMEOUT_MS)
        .emitWithAck('session.end', {})
        .catch(() => undefined);
    } else if (this.hasSession) {
      await call(this.abs(`${this.saved.selfUri}/end`), {
        method: 'POST',
        headers: this.clientHeaders(),
      }).catch(() => undefined);
    }
    this.finish('ended by the customer');
  }

  /** Disconnects, keeping everything saved (page unload, widget removal). */
  stop(): void {
    this.stopped = true;
    if (typeof window !== 'undefined') window.removeEventListener('online', this.onOnline);
    clearTimeout(this.pollTimer);
    clearTimeout(this.fallbackTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
  }

  // --- session -------------------------------------------------------------------------------

  private async ensureSession(): Promise<void> {
    if (this.hasSession) return;
    if (!this.creating) {
      this.creating = this.createSession().finally(() => {
        this.creating = undefined;
      });
    }
    return this.creating;
  }

  private async createSession(): Promise<void> {
    const c = this.opts.customer ?? {};
    const form: Record<string, string> = { 'data[endpoint]': this.opts.endpoint };
    if (this.opts.stream) form['data[stream]'] = this.opts.stream;
    for (const [k, v] of Object.entries({ ...this.opts.userData, ...c })) {
      if (typeof v === 'string' && v) form[`data[${k}]`] = v;
    }
    // The gateway names the customer from first and last name; an anonymous one is a Guest.
    if (!form['data[nickname]'] && !c.firstName && !c.lastName) form['data[nickname]'] = 'Guest';
    this.setStatus('connecting');
    const data = await call<{ selfUri: string; clientToken: string }>(this.abs('/nexus/v3/chat/sessions'), {
      method: 'POST',
      headers: { 'x-api-key': this.opts.apiKey },
      form,
    });
    if (!data?.selfUri || !data?.clientToken) {
      throw new ApiError(502, {
        code: 0,
        name: 'BAD_SESSION',
        message: 'The gateway did not return a session.',
        retryable: true,
      });
    }
    this.saved.selfUri = data.selfUri;
    this.saved.clientToken = data.clientToken;
    this.saved.lastSeq = 0;
    this.persist();
    this.connect();
  }

  // --- socket --------------------------------------------------------------------------------

  private connect(): void {
    if (this.socket || this.stopped || !this.hasSession) return;
    this.setStatus('connecting');
    const factory = this.opts.connect ?? io;
    const socket: Socket<ConsumerServerToClient, ConsumerClientToServer> = factory(
      this.opts.gateway + CONSUMER_NAMESPACE,
      {
        path: SOCKET_PATH,
        // A function, so every reconnection resumes from the seq held at that moment.
        auth: (cb) => cb({ clientToken: this.saved.clientToken!, lastSeq: this.saved.lastSeq }),
        transports: ['websocket', 'polling'],
        tryAllTransports: true,
        reconnectionDelay: 500,
        reconnectionDelayMax: 5000,
        timeout: 8000,
        withCredentials: false,
      },
    );
    this.socket = socket;
    this.armFallback();

    socket.on('connect', () => {
      this.resets = 0;
      clearTimeout(this.fallbackTimer);
      this.stopPolling();
      this.setStatus('live');
      void this.flush();
    });
    socket.on('connect_error', (err: Error & { data?: ErrorBody }) => {
      if (err.data && err.data.retryable === false) {
        // Refused by the gateway, not the network: the session ended or its token is no longer valid.
        this.finish(err.data.message ?? 'refused', sessionGone(err.data) ?? 'refused');
        return;
      }
      if (this.status !== 'polling') this.setStatus('connecting');
    });
    socket.on('disconnect', (reason) => {
      if (this.stopped) return;
      this.setStatus('offline');
      this.armFallback();
      // A server-side disconnect (a node shutting down) is not retried by socket.io itself.
      if (reason === 'io server disconnect') this.later(() => socket.connect(), 300);
    });
    socket.on('reconnect', () => {
      socket.disconnect();
      this.later(() => socket.connect(), 100);
    });
    socket.on('message', (m) => this.take(m, true));
    socket.on('typing', (p) => this.emit('typing', p));
    socket.on('session.ended', (p) => this.finish(p.reason ?? 'ended'));
  }

  /** The REST flow takes over if the socket is not up soon; both may run for a moment, harmlessly. */
  private armFallback(): void {
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(() => {
      if (!this.stopped && this.socket && !this.socket.connected) this.startPolling();
    }, this.opts.restFallbackMs ?? 3000);
  }

  private onOnline = (): void => {
    if (this.socket && !this.socket.connected) this.socket.connect();
    void this.flush();
  };

  // --- REST fallback -------------------------------------------------------------------------

  private startPolling(): void {
    if (this.status !== 'polling') this.setStatus('polling');
    if (this.pollTimer || this.polling) return;
    this.pollTimer = setTimeout(this.tick, 0);
  }

  private tick = async (): Promise<void> => {
    this.pollTimer = undefined;
    if (this.stopped || this.socket?.connected || !this.hasSession) return;
    this.polling = true;
    this.pollAgain = false;
    try {
      await this.poll();
      if (this.status !== 'polling' && !this.socket?.connected) this.setStatus('polling');
      void this.flush();
    } catch (err) {
      const gone = err instanceof ApiError ? sessionGone(err.body) : undefined;
      if (gone) {
        this.finish((err as ApiError).message, gone);
        return;
      }
      this.setStatus('offline');
    } finally {
      this.polling = false;
    }
    if (!this.socket?.connected && !this.stopped && !this.pollTimer)
      this.pollTimer = setTimeout(this.tick, this.pollAgain ? 0 : (this.opts.pollMs ?? 2000));
  };

  /** Reads the REST stream now rather than at the next period (when polling at all). */
  private pollSoon(): void {
    if (this.polling) {
      this.pollAgain = true;
    } else if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = setTimeout(this.tick, 0);
    }
  }

  private stopPolling(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** `GET {selfUri}/messages?from=<seq>` (inclusive): every message after the last one held. */
  private async poll(): Promise<void> {
    const data = await call(this.abs(`${this.saved.selfUri}/messages?from=${this.saved.lastSeq + 1}`), {
      method: 'GET',
      headers: this.clientHeaders(),
    });
    const list: ChatMessage[] = Array.isArray(data) ? data : (data?.messages ?? []);
    for (const m of [...list].sort((a, b) => a.seq - b.seq)) this.take(m, true);
    // nextPosition also steps over agent-only messages, which this side never sees.
    const next = Number(data?.nextPosition);
    if (Number.isInteger(next) && next - 1 > this.saved.lastSeq) {
      this.saved.lastSeq = next - 1;
      this.release(this.saved.lastSeq);
      this.persist();
    }
    if (data?.chatEnded) this.finish('ended');
  }

  // --- outbox --------------------------------------------------------------------------------

  /** Sends the outbox in order, one at a time, over the socket or else REST. */
  private async flush(): Promise<void> {
    if (this.stopped) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        if (!this.saved.outbox.some((p) => !p.failed)) return;
        await this.ensureSession();
        for (const p of [...this.saved.outbox]) {
          if (p.failed || this.stopped) continue;
          const ok = await this.sendOne(p);
          if (!ok) return;
        }
      } while (this.flushAgain);
    } catch (err) {
      const e = err instanceof ApiError ? err : undefined;
      if (e && !e.retryable) {
        this.emit('error', e.body);
      } else {
        this.later(() => void this.flush(), 3000);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** True when the message is settled (acked or refused for good); false to stop and retry later. */
  private async sendOne(p: PendingSend): Promise<boolean> {
    const content = p.attachment
      ? { attachments: [p.attachment] }
      : p.payload
        ? { payload: p.payload }
        : undefined;
    const type = p.attachment ? ('File' as const) : ('Text' as const);
    const payload = {
      clientMessageId: p.clientMessageId,
      type,
      text: p.text,
      ...(content ? { content } : {}),
    };
    let result: { id: string; seq: number } | undefined;
    let refusal: ErrorBody | undefined;
    if (this.socket?.connected) {
      try {
        const ack = await this.socket.timeout(SEND_TIMEOUT_MS).emitWithAck('message.send', payload);
        if (ack.ok) result = { id: ack.id, seq: ack.seq };
        else if (ack.error.retryable) return false;
        else refusal = ack.error;
      } catch {
        // No ack in time: the socket is probably gone; it resends on reconnect.
        return false;
      }
    } else if (p.attachment) {
      // The REST flow sends text only: offline, a voice message waits for the socket; in limited
      // mode (the socket refused) it is marked not sent, with Retry, so it holds nothing up.
      if (this.status !== 'polling') return false;
      refusal = {
        code: 0,
        name: 'VOICE_NEEDS_SOCKET',
        message: 'voice messages need a live connection.',
        retryable: false,
      };
    } else if (this.status === 'polling' || this.status === 'offline') {
      try {
        const data = await call(this.abs(`${this.saved.selfUri}/messages`), {
          method: 'POST',
          headers: this.clientHeaders(),
          form: {
            'data[type]': 'Text',
            'data[text]': p.text,
            'data[clientMessageId]': p.clientMessageId,
            ...(p.payload ? { 'data[content][payload]': p.payload } : {}),
          },
        });
        const m = (data?.message ?? data) as Partial<ChatMessage>;
        result = { id: String(m?.id ?? ''), seq: Number(m?.seq ?? 0) };
      } catch (err) {
        if (!(err instanceof ApiError) || err.retryable) {
          this.later(() => void this.flush(), 3000);
          return false;
        }
        const gone = sessionGone(err.body);
        if (gone) {
          this.finish(err.message, gone);
          return false;
        }
        refusal = err.body;
      }
    } else {
      // Connecting: the socket's connect handler flushes.
      return false;
    }
    this.saved.outbox = this.saved.outbox.filter((x) => x.clientMessageId !== p.clientMessageId);
    if (refusal) {
      this.saved.outbox.push({ ...p, failed: refusal });
      this.emit('error', refusal);
    } else if (result && result.seq > 0) {
      // Shown at once with its committed seq; the server's copy of it is then a no-op.
      this.take(
        {
          id: result.id,
          conversationId: this.saved.messages[0]?.conversationId ?? '',
          seq: result.seq,
          type,
          from: { participantId: 'me', type: 'Customer' },
          text: p.text,
          ...(content ? { content } : {}),
          clientMessageId: p.clientMessageId,
          timestamp: new Date().toISOString(),
          visibility: 'all',
        },
        false,
      );
      // Told once the stream reaches it: over REST, read the stream now rather than in pollMs.
      if (this.waiting.has(result.seq) && !this.socket?.connected) this.pollSoon();
    }
    this.persist();
    this.emit('outbox', this.saved.outbox);
    return true;
  }

  // --- transcript ----------------------------------------------------------------------------

  /**
   * Holds a message once; `ordered` when it comes from the server's in-order stream (socket
   * `message` events, REST reads), which brings every message the customer may see, theirs too,
   * without gaps from where it started. A message known only from its ack (`ordered` false) whose
   * seq the stream has not reached is placed in `messages()` at once but told (the `message`
   * event) only when the stream gets there: a lower seq may still be on its way, and a listener
   * hears every message once, in seq order.
   */
  private take(m: ChatMessage, ordered: boolean): void {
    if (!m || typeof m.seq !== 'number' || m.visibility === 'agents') return;
    if (m.clientMessageId && this.saved.outbox.some((p) => p.clientMessageId === m.clientMessageId)) {
      this.saved.outbox = this.saved.outbox.filter((p) => p.clientMessageId !== m.clientMessageId);
      this.emit('outbox', this.saved.outbox);
    }
    if (ordered) {
      // The stream brought everything below m.seq before m: what waited below it is next.
      this.release(m.seq - 1);
      if (m.seq > this.saved.lastSeq) this.saved.lastSeq = m.seq;
    }
    const list = this.saved.messages;
    if (this.held.has(m.seq)) {
      if (ordered && this.waiting.delete(m.seq)) {
        // The stream's copy of a message held from its ack: the server's (its participant, its
        // time) replaces the one made from the ack, and it is told now, in its place.
        const i = list.findIndex((x) => x.seq === m.seq);
        if (i >= 0) list[i] = m;
        this.persist();
        this.emit('message', m);
        return;
      }
      this.persist();
      return;
    }
    this.held.add(m.seq);
    let i = list.length;
    while (i > 0 && list[i - 1].seq > m.seq) i--;
    list.splice(i, 0, m);
    if (list.length > MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
    if (!ordered && m.seq > this.saved.lastSeq) {
      this.waiting.add(m.seq);
      this.persist();
      return;
    }
    this.persist();
    this.emit('message', m);
  }

  /** Tells, in seq order, the messages held from an ack whose seq is at most `upTo`. */
  private release(upTo: number): void {
    if (!this.waiting.size) return;
    const due = [...this.waiting].filter((s) => s <= upTo).sort((a, b) => a - b);
    for (const seq of due) {
      this.waiting.delete(seq);
      const m = this.saved.messages.find((x) => x.seq === seq);
      if (m) this.emit('message', m);
    }
  }

  /** After a load: what is saved is held; a saved message above `lastSeq` came from an ack. */
  private holdSaved(): void {
    this.held.clear();
    this.waiting.clear();
    for (const m of this.saved.messages) {
      this.held.add(m.seq);
      if (m.seq > this.saved.lastSeq) this.waiting.add(m.seq);
    }
  }

  /**
   * The session is over. `ended`: the chat finished; its transcript stays on screen for this page
   * view and a reload starts afresh. `refused`: the gateway no longer accepts the token. Either way
   * an unsent message is not dropped: it opens a new session.
   */
  private finish(reason: string, how: 'ended' | 'refused' = 'ended'): void {
    const unsent = this.saved.outbox.filter((p) => !p.failed);
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
    clearTimeout(this.fallbackTimer);
    this.stopPolling();
    // No stream will bring them now: what waited for it is told, in order, before the end.
    if (how === 'ended') this.release(Number.POSITIVE_INFINITY);
    this.held.clear();
    this.waiting.clear();
    if (how === 'refused') {
      this.saved = { v: 1, lastSeq: 0, messages: [], outbox: unsent, open: this.saved.open };
      this.persist();
      if (++this.resets > 2) {
        this.emit('error', {
          code: 0,
          name: 'SESSION_REFUSED',
          message: 'The chat service refused the session.',
          retryable: true,
        });
        this.setStatus('offline');
        return;
      }
      this.setStatus('idle');
      if (unsent.length) void this.flush();
      return;
    }
    this.saved = { v: 1, lastSeq: 0, messages: this.saved.messages, outbox: [], open: this.saved.open };
    for (const m of this.saved.messages) this.held.add(m.seq);
    this.clearSaved();
    this.setStatus('ended');
    this.emit('ended', { reason });
    if (unsent.length) {
      this.restart();
      this.saved.outbox = unsent;
      this.persist();
      this.emit('outbox', unsent);
      void this.flush();
    }
  }

  /** After an ended chat, the next message starts a new one. */
  restart(): void {
    if (this.status !== 'ended') return;
    this.saved = { v: 1, lastSeq: 0, messages: [], outbox: [], open: this.saved.open };
    this.held.clear();
    this.waiting.clear();
    this.setStatus('idle');
  }

  // --- helpers -------------------------------------------------------------------------------

  private setStatus(s: ChatStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private clientHeaders(): Record<string, string> {
    return { 'x-nexus-client-key': this.saved.clientToken ?? '', 'x-api-key': this.opts.apiKey };
  }

  private abs(path: string): string {
    return /^https?:/.test(path) ? path : this.opts.gateway + path;
  }

  private load(): SavedChat {
    const empty: SavedChat = { v: 1, lastSeq: 0, messages: [], outbox: [], open: false };
    try {
      const raw = this.opts.storage?.getItem(this.key);
      if (!raw) return empty;
      const s = JSON.parse(raw) as SavedChat;
      if (s?.v !== 1 || !Array.isArray(s.messages) || !Array.isArray(s.outbox)) return empty;
      return { ...empty, ...s };
    } catch {
      return empty;
    }
  }

  private persist(): void {
    try {
      this.opts.storage?.setItem(this.key, JSON.stringify(this.saved));
    } catch {
      // Storage full or forbidden: the chat still works for this page view.
    }
  }

  private clearSaved(): void {
    try {
      this.opts.storage?.removeItem(this.key);
    } catch {
      // as above
    }
  }
}

/** Whether an error means the session is over (`ended`) or its token refused (`refused`). */
function sessionGone(
  e: { code?: number; name?: string; retryable?: boolean } | undefined,
): 'ended' | 'refused' | undefined {
  if (!e || e.retryable) return undefined;
  if (e.name === 'SESSION_ENDED' || e.name === 'CONVERSATION_CLOSED') return 'ended';
  if (typeof e.name === 'string' && /TOKEN|UNAUTHENTICATED|SESSION_(MISMATCH|NOT_FOUND)/.test(e.name))
    return 'refused';
  return undefined;
}
