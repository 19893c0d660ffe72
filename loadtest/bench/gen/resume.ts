/**
 * The resume run: thousands of customers hold conversations while their agents keep writing;
 * every customer socket is dropped at once (no close handshake) and reconnects with the last
 * seq it holds. Afterwards each conversation's acked agent messages are compared with what its
 * customer received: lost = acked but never received, duplicated = received more than once.
 */
import { pool } from './clients.js';
import type { GatewayCustomer, GatewayTarget, GatewayTenant } from './targets.js';

export interface ResumeArgs {
  url: string;
  tenant: GatewayTenant;
  customers: number;
  perAgent: number;
  /** Agent messages per second over all conversations. */
  agentRate: number;
  beforeDropMs: number;
  afterDropMs: number;
  drainMs: number;
}

interface Seen {
  conversationId?: string;
  maxSeq: number;
  count: Map<number, number>;
  firstAt: Map<number, number>;
  reconnectedAt?: number;
}

export async function resume(a: ResumeArgs, make: (url: string, t: GatewayTenant) => GatewayTarget) {
  const g = make(a.url, a.tenant);
  const seen = new Map<GatewayCustomer, Seen>();
  const byNick = new Map<string, string>();
  const writers: Array<{ send: (m: unknown, ack: (x: any) => void) => void; conversationId: string }> = [];
  g.onAssigned = (agent, conv) => {
    if (conv?.customer?.nickname) byNick.set(conv.customer.nickname, conv.id);
    writers.push({ conversationId: conv.id, send: (m, ack) => agent.socket.emit('message.send', m, ack) });
  };
  g.onCustomerMessage = (c, m) => {
    const s: Seen = seen.get(c) ?? { maxSeq: 0, count: new Map(), firstAt: new Map() };
    seen.set(c, s);
    if (typeof m?.seq !== 'number') return;
    s.conversationId ??= m.conversationId;
    s.count.set(m.seq, (s.count.get(m.seq) ?? 0) + 1);
    if (!s.firstAt.has(m.seq)) s.firstAt.set(m.seq, performance.now());
    if (m.seq > s.maxSeq) s.maxSeq = m.seq;
  };

  const t0 = performance.now();
  await g.addAgents(Math.ceil(a.customers / a.perAgent), a.perAgent);
  await g.createSessions(a.customers, 32);
  await g.connectCustomers(0, a.customers, 200);
  await g.waitAssigned(a.customers);
  const setupSeconds = (performance.now() - t0) / 1000;

  // Agents write, open model, round robin over the conversations.
  const acked = new Map<string, Array<{ seq: number; at: number }>>();
  let ackErrors = 0;
  let sent = 0;
  let writing = true;
  const interval = 1000 / a.agentRate;
  const w0 = performance.now();
  const writer = new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (writing && w0 + sent * interval <= now) {
        const w = writers[sent % writers.length];
        const clientMessageId = `r${a.tenant.prefix}-${sent}`;
        w.send(
          { conversationId: w.conversationId, clientMessageId, type: 'Text', text: `update ${sent}` },
          (x) => {
            if (x?.ok && typeof x.seq === 'number') {
              const l = acked.get(w.conversationId) ?? [];
              acked.set(w.conversationId, l);
              l.push({ seq: x.seq, at: performance.now() });
            } else ackErrors++;
          },
        );
        sent++;
      }
      if (!writing) return done();
      setTimeout(tick, Math.max(0, w0 + sent * interval - performance.now()));
    };
    tick();
  });

  await new Promise((r) => setTimeout(r, a.beforeDropMs));
  const customers = g.customers.slice(0, a.customers);
  const tDrop = performance.now();
  for (const c of customers) c.socket?.terminate();
  let reconnectFailures = 0;
  await pool(customers, 500, async (c) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await g.connectCustomers(c.index, c.index + 1, 1, () => seen.get(c)?.maxSeq ?? 0);
        const s: Seen = seen.get(c) ?? { maxSeq: 0, count: new Map(), firstAt: new Map() };
        s.reconnectedAt = performance.now();
        seen.set(c, s);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    reconnectFailures++;
  });
  const allReconnectedSeconds = (performance.now() - tDrop) / 1000;
  const remaining = a.afterDropMs - (performance.now() - tDrop);
  if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
  writing = false;
  await writer;
  // Every send gets its ack (or error) before the comparison, so `acked` is the whole truth.
  const ackEnd = performance.now() + a.drainMs;
  const answered = () => [...acked.values()].reduce((n, l) => n + l.length, 0) + ackErrors;
  while (answered() < sent && performance.now() < ackEnd) await new Promise((r) => setTimeout(r, 50));
  const unanswered = sent - answered();

  // Drain: wait until every acked message has reached its customer, or the drain time is up.
  const missing = () => {
    let n = 0;
    for (const c of customers) {
      const conv = byNick.get(`${a.tenant.prefix}-c${c.index}`) ?? seen.get(c)?.conversationId;
      const s = seen.get(c);
      for (const m of (conv && acked.get(conv)) || []) if (!s?.count.has(m.seq)) n++;
    }
    return n;
  };
  const drainEnd = performance.now() + a.drainMs;
  while (missing() > 0 && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 50));

  let lost = 0;
  let duplicated = 0;
  let reconnected = 0;
  let ackedTotal = 0;
  let resumedAtMax = 0;
  let notResumed = 0;
  for (const c of customers) {
    const conv = byNick.get(`${a.tenant.prefix}-c${c.index}`) ?? seen.get(c)?.conversationId;
    const s = seen.get(c);
    if (s?.reconnectedAt) reconnected++;
    for (const n of s?.count.values() ?? []) if (n > 1) duplicated += n - 1;
    const list = (conv && acked.get(conv)) || [];
    ackedTotal += list.length;
    let resumedAt = s?.reconnectedAt ?? Number.POSITIVE_INFINITY;
    for (const m of list) {
      const first = s?.firstAt.get(m.seq);
      if (first === undefined) {
        lost++;
        continue;
      }
      // Resumed = reconnected and holding everything acked before the reconnect completed.
      if (s?.reconnectedAt && m.at <= s.reconnectedAt) resumedAt = Math.max(resumedAt, first);
    }
    if (Number.isFinite(resumedAt)) resumedAtMax = Math.max(resumedAtMax, resumedAt);
    else notResumed++;
  }
  g.close();
  return {
    customers: a.customers,
    reconnected,
    reconnectFailures,
    notResumed,
    lost,
    duplicated,
    agentMessagesSent: sent,
    agentMessagesAcked: ackedTotal,
    ackErrors,
    unanswered,
    seconds: notResumed ? null : Math.round(((resumedAtMax - tDrop) / 1000) * 1000) / 1000,
    allReconnectedSeconds: Math.round(allReconnectedSeconds * 1000) / 1000,
    setupSeconds: Math.round(setupSeconds * 10) / 10,
  };
}
