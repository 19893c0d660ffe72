/**
 * The three servers a generator can drive, behind one small interface: N conversations, each a
 * customer socket and an agent socket, where the customer sends and the agent receives.
 *  - `uws`: the raw uWS relay (frames passed through untouched, no ack);
 *  - `socketio`: the plain socket.io relay (rooms, `message.send` relayed and acked);
 *  - `gateway`: the real gateway (REST provisioning, routing, persist-before-ack).
 */
import type WebSocket from 'ws';
import { decodeFrame, encodeEvent } from '../../k6/lib/socketio.js';
import {
  type ManagerOptions,
  type Socket as ClientSocket,
  io as ioClient,
  type SocketOptions,
} from 'socket.io-client';
import * as msgpackParser from 'socket.io-msgpack-parser';
import { openRaw, pool, rest, SOCKET_PATH, SioClient } from './clients.js';

export type TargetKind = 'uws' | 'socketio' | 'gateway';

export interface GatewayTenant {
  ccid: string;
  apiKey: string;
  adminToken: string;
  /** Each generator gets its own endpoint and queue, so routing never crosses generators. */
  endpoint: string;
  queue: string;
  /** Unique per generator, for agent ids and nicknames. */
  prefix: string;
}

export interface TargetEvents {
  /** The agent side received a customer's message. */
  delivered(clientMessageId: string): void;
  /** The sender got its ack (gateway and socket.io relay only). */
  acked(clientMessageId: string, ok: boolean): void;
}

const TEXT = 'Hello, I would like to know where my order is. It was supposed to arrive yesterday.';

export interface RelayTarget {
  readonly kind: TargetKind;
  /** Opens `n` conversations; `perAgent` conversations share one agent (gateway only). */
  open(n: number, perAgent?: number): Promise<void>;
  readonly size: number;
  send(i: number, clientMessageId: string): void;
  close(): void;
}

/** The real socket.io-client, for the settings that the wire helpers do not speak (msgpack, deflate). */
export interface LibClientOptions {
  msgpack: boolean;
  deflate: boolean;
}

export function createTarget(
  kind: TargetKind,
  url: string,
  ev: TargetEvents,
  tenant?: GatewayTenant,
  lib?: LibClientOptions,
): RelayTarget {
  if (kind === 'uws') return new UwsTarget(url, ev);
  if (kind === 'socketio' && lib) return new SocketIoLibTarget(url, ev, lib);
  if (kind === 'socketio') return new SocketIoTarget(url, ev);
  if (!tenant) throw new Error('the gateway target needs a tenant');
  return new GatewayTarget(url, ev, tenant);
}

class UwsTarget implements RelayTarget {
  readonly kind = 'uws';
  private customers: WebSocket[] = [];
  private agents: WebSocket[] = [];
  constructor(
    private readonly url: string,
    private readonly ev: TargetEvents,
  ) {}

  get size() {
    return this.customers.length;
  }

  async open(n: number): Promise<void> {
    const base = this.url.replace(/^http/, 'ws');
    const start = this.customers.length;
    const idx = Array.from({ length: n }, (_, k) => start + k);
    await pool(idx, 100, async (i) => {
      const a = await openRaw(`${base}/relay?pair=${i}&role=a`);
      a.on('message', (data) => {
        // The agent decodes what it gets, as a socket.io client would.
        const f = decodeFrame(data.toString());
        const p = f.sio?.data?.[1];
        if (p?.clientMessageId) this.ev.delivered(p.clientMessageId);
      });
      const c = await openRaw(`${base}/relay?pair=${i}&role=c`);
      this.agents[i] = a;
      this.customers[i] = c;
    });
  }

  send(i: number, clientMessageId: string): void {
    this.customers[i].send(
      encodeEvent('/consumer', 'message.send', [{ clientMessageId, type: 'Text', text: TEXT }]),
    );
  }

  close(): void {
    for (const s of [...this.customers, ...this.agents]) s.terminate();
  }
}

class SocketIoTarget implements RelayTarget {
  readonly kind = 'socketio';
  private customers: SioClient[] = [];
  private agents: SioClient[] = [];
  constructor(
    private readonly url: string,
    private readonly ev: TargetEvents,
  ) {}

  get size() {
    return this.customers.length;
  }

  async open(n: number): Promise<void> {
    const start = this.customers.length;
    const idx = Array.from({ length: n }, (_, k) => start + k);
    await pool(idx, 100, async (i) => {
      const a = await SioClient.open(this.url, '/agent', { pair: String(i) });
      a.on('message', (m: any) => {
        if (m?.clientMessageId) this.ev.delivered(m.clientMessageId);
      });
      const c = await SioClient.open(this.url, '/consumer', { pair: String(i) });
      this.agents[i] = a;
      this.customers[i] = c;
    });
  }

  send(i: number, clientMessageId: string): void {
    this.customers[i].emit('message.send', { clientMessageId, type: 'Text', text: TEXT }, (a: any) =>
      this.ev.acked(clientMessageId, a?.ok === true),
    );
  }

  close(): void {
    for (const s of [...this.customers, ...this.agents]) s.terminate();
  }
}

class SocketIoLibTarget implements RelayTarget {
  readonly kind = 'socketio';
  private customers: ClientSocket[] = [];
  private agents: ClientSocket[] = [];
  constructor(
    private readonly url: string,
    private readonly ev: TargetEvents,
    private readonly lib: LibClientOptions,
  ) {}

  get size() {
    return this.customers.length;
  }

  private async connect(nsp: string, pair: number): Promise<ClientSocket> {
    const s = ioClient(`${this.url}${nsp}`, {
      path: SOCKET_PATH,
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { pair: String(pair) },
      parser: this.lib.msgpack ? msgpackParser : undefined,
      // Threshold 0: every frame is compressed, which is what the setting costs at its most.
      perMessageDeflate: this.lib.deflate ? { threshold: 0 } : false,
    } as Partial<ManagerOptions & SocketOptions>);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${nsp}: no connect within 30 s`)), 30_000);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      s.once('connect_error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      s.once('disconnect', (why) => {
        clearTimeout(timer);
        reject(new Error(`${nsp}: disconnected before connecting (${why})`));
      });
    });
    return s;
  }

  async open(n: number): Promise<void> {
    const start = this.customers.length;
    const idx = Array.from({ length: n }, (_, k) => start + k);
    await pool(idx, 50, async (i) => {
      const a = await this.connect('/agent', i);
      a.on('message', (m: any) => {
        if (m?.clientMessageId) this.ev.delivered(m.clientMessageId);
      });
      this.agents[i] = a;
      this.customers[i] = await this.connect('/consumer', i);
    });
  }

  send(i: number, clientMessageId: string): void {
    this.customers[i].emit('message.send', { clientMessageId, type: 'Text', text: TEXT }, (a: any) =>
      this.ev.acked(clientMessageId, a?.ok === true),
    );
  }

  close(): void {
    for (const s of [...this.customers, ...this.agents]) s.disconnect();
  }
}

export interface GatewayCustomer {
  index: number;
  clientToken: string;
  socket?: SioClient;
}

export interface GatewayAgent {
  agentId: string;
  token: string;
  socket: SioClient;
  conversations: string[];
}

/** Provisioning and sockets of the real gateway; also used by the idle, resume and durable runs. */
export class GatewayTarget implements RelayTarget {
  readonly kind = 'gateway';
  readonly customers: GatewayCustomer[] = [];
  readonly agents: GatewayAgent[] = [];
  /** Fired for every message an agent socket receives (resume uses the conversation ids). */
  onAgentMessage?: (agent: GatewayAgent, m: any) => void;
  onCustomerMessage?: (c: GatewayCustomer, m: any) => void;
  onAssigned?: (agent: GatewayAgent, conversation: any) => void;
  private assigned = 0;
  private assignedWaiters: Array<() => void> = [];

  constructor(
    private readonly url: string,
    private readonly ev: TargetEvents,
    private readonly t: GatewayTenant,
  ) {}

  get size() {
    return this.customers.filter((c) => c.socket).length;
  }

  private admin() {
    return { authorization: `Bearer ${this.t.adminToken}` };
  }

  async addAgents(count: number, capacity: number): Promise<void> {
    const start = this.agents.length;
    const idx = Array.from({ length: count }, (_, k) => start + k);
    await pool(idx, 16, async (i) => {
      const agentId = `${this.t.prefix}-agent-${i}`;
      const base = `/nexus/v3/provisioning/agents/${encodeURIComponent(this.t.ccid)}/${agentId}`;
      await rest(this.url, 'PUT', base, {
        headers: this.admin(),
        json: { name: `Bench agent ${i}`, queues: [this.t.queue], capacity },
      });
      const tok = await rest(this.url, 'POST', `${base}/tokens`, { headers: this.admin(), json: {} });
      const token = tok?.data?.token;
      if (!token) throw new Error(`no agent token in ${JSON.stringify(tok)}`);
      const socket = await SioClient.open(this.url, '/agent', { token });
      const agent: GatewayAgent = { agentId, token, socket, conversations: [] };
      socket.on('conversation.assigned', (p: any) => {
        const id = p?.conversation?.id;
        if (id && !agent.conversations.includes(id)) {
          agent.conversations.push(id);
          this.assigned++;
          this.onAssigned?.(agent, p.conversation);
          for (const w of this.assignedWaiters.splice(0)) w();
        }
      });
      socket.on('message', (m: any) => {
        if (m?.from?.type === 'Customer' && m.clientMessageId) this.ev.delivered(m.clientMessageId);
        this.onAgentMessage?.(agent, m);
      });
      const ack = await socket.request('agent.state', { state: 'ready' });
      if (!ack?.ok) throw new Error(`agent.state refused: ${JSON.stringify(ack)}`);
      this.agents[i] = agent;
    });
  }

  /** Creates chat sessions through the REST flow (no sockets yet). */
  async createSessions(count: number, concurrency = 16): Promise<void> {
    const start = this.customers.length;
    const idx = Array.from({ length: count }, (_, k) => start + k);
    await pool(idx, concurrency, async (i) => {
      const nick = `${this.t.prefix}-c${i}`;
      const r = await rest(this.url, 'POST', '/nexus/v3/chat/sessions', {
        headers: { 'x-api-key': this.t.apiKey },
        form: `data[nickname]=${nick}&data[firstName]=Bench&data[lastName]=C${i}&data[endpoint]=${encodeURIComponent(this.t.endpoint)}`,
      });
      const clientToken = r?.data?.clientToken ?? r?.clientToken;
      if (!clientToken) throw new Error(`no clientToken in ${JSON.stringify(r)}`);
      this.customers[i] = { index: i, clientToken };
    });
  }

  /** Connects customers [from, to) that have a session but no socket. */
  async connectCustomers(
    from: number,
    to: number,
    concurrency = 100,
    lastSeq?: (c: GatewayCustomer) => number,
  ) {
    await pool(this.customers.slice(from, to), concurrency, async (c) => {
      const s = await SioClient.open(this.url, '/consumer', {
        clientToken: c.clientToken,
        lastSeq: lastSeq?.(c) ?? 0,
      });
      s.on('message', (m: any) => this.onCustomerMessage?.(c, m));
      c.socket = s;
    });
  }

  async waitAssigned(n: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.assigned < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.assigned} of ${n} conversations were assigned`);
      await new Promise<void>((r) => {
        this.assignedWaiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }

  async open(n: number, perAgent = 1): Promise<void> {
    const have = this.customers.length;
    await this.addAgents(Math.ceil(n / perAgent), perAgent);
    await this.createSessions(n);
    await this.connectCustomers(have, have + n);
    await this.waitAssigned(have + n);
  }

  send(i: number, clientMessageId: string): void {
    this.customers[i].socket!.emit('message.send', { clientMessageId, type: 'Text', text: TEXT }, (a: any) =>
      this.ev.acked(clientMessageId, a?.ok === true),
    );
  }

  close(): void {
    for (const c of this.customers) c.socket?.terminate();
    for (const a of this.agents) a.socket.terminate();
  }
}
