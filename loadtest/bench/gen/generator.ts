/**
 * A load generator process. Open model: messages are scheduled at a fixed aggregate rate, round
 * robin over the conversations, and the latency of each is measured from its *scheduled* send
 * time, so a server (or generator) that falls behind shows it as latency instead of quietly
 * sending less (no coordinated omission).
 */
import type WebSocket from 'ws';
import { encode, newHistogram, recordMs } from '../hist.js';
import { serve } from '../ipc.js';
import { openRaw, pool } from './clients.js';
import type { LibClientOptions } from './targets.js';
import {
  createTarget,
  type GatewayTenant,
  GatewayTarget,
  type RelayTarget,
  type TargetKind,
} from './targets.js';

const genId = process.env.BENCH_GEN_ID ?? '0';
let target: RelayTarget | undefined;
let msgCounter = 0;
const idle: WebSocket[] = [];

/** Scheduled send time (performance.now) of every message still in flight. */
const inFlight = new Map<string, number>();
let onDelivered: ((id: string, latencyMs: number) => void) | undefined;
let onAcked: ((id: string, ok: boolean) => void) | undefined;

const events = {
  delivered(id: string) {
    const t = inFlight.get(id);
    if (t === undefined) return;
    inFlight.delete(id);
    onDelivered?.(id, performance.now() - t);
  },
  acked(id: string, ok: boolean) {
    onAcked?.(id, ok);
  },
};

interface OpenArgs {
  kind: TargetKind;
  url: string;
  tenant?: GatewayTenant;
  conversations: number;
  perAgent?: number;
  /** socket.io only: drive it with socket.io-client and these settings instead of the wire helpers. */
  lib?: LibClientOptions;
}

async function open(a: OpenArgs) {
  target?.close();
  target = createTarget(a.kind, a.url, events, a.tenant, a.lib);
  const t0 = performance.now();
  await target.open(a.conversations, a.perAgent ?? 1);
  return { conversations: target.size, setupSeconds: (performance.now() - t0) / 1000 };
}

interface StepArgs {
  /** Messages per second from this generator, over all its conversations. */
  rate: number;
  durationMs: number;
  /** How long to wait after the last scheduled send for stragglers. */
  drainMs: number;
}

/** One constant-rate step; every message is either delivered or counted as not delivered in time. */
async function step(a: StepArgs) {
  const t = target;
  if (!t) throw new Error('open first');
  const hist = newHistogram();
  const ackHist = newHistogram();
  let delivered = 0;
  let ackOk = 0;
  let ackErr = 0;
  const sentAt = new Map<string, number>();
  onDelivered = (_id, ms) => {
    delivered++;
    recordMs(hist, ms);
  };
  onAcked = (id, ok) => {
    const s = sentAt.get(id);
    if (s !== undefined) {
      sentAt.delete(id);
      recordMs(ackHist, performance.now() - s);
    }
    if (ok) ackOk++;
    else ackErr++;
  };
  const interval = 1000 / a.rate;
  const total = Math.max(1, Math.round((a.rate * a.durationMs) / 1000));
  const t0 = performance.now() + 5;
  let k = 0;
  let maxLagMs = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (k < total) {
        const due = t0 + k * interval;
        if (due > now) break;
        maxLagMs = Math.max(maxLagMs, now - due);
        const id = `g${genId}-${msgCounter++}`;
        inFlight.set(id, due);
        sentAt.set(id, due);
        t.send(k % t.size, id);
        k++;
      }
      if (k >= total) return done();
      setTimeout(tick, Math.max(0, t0 + k * interval - performance.now()));
    };
    setTimeout(tick, 5);
  });
  const sendEnd = performance.now();
  const deadline = sendEnd + a.drainMs;
  while (delivered < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  // What did not arrive by the deadline is recorded at its age now: it counts against p99 honestly.
  let late = 0;
  const now = performance.now();
  for (const [id, due] of inFlight) {
    late++;
    recordMs(hist, now - due);
    inFlight.delete(id);
  }
  onDelivered = undefined;
  onAcked = undefined;
  return {
    scheduled: total,
    delivered,
    late,
    ackOk,
    ackErr,
    sendSeconds: (sendEnd - t0) / 1000,
    maxSendLagMs: Math.round(maxLagMs * 1000) / 1000,
    hist: encode(hist),
    ackHist: encode(ackHist),
  };
}

/** Closed loop: every customer keeps `window` messages in flight; counts committed acks. */
async function durable(a: { durationMs: number; window: number }) {
  const t = target;
  if (!t) throw new Error('open first');
  const ackHist = newHistogram();
  let acked = 0;
  let errors = 0;
  let running = true;
  const sentAt = new Map<string, { at: number; conv: number }>();
  const sendOne = (conv: number) => {
    const id = `g${genId}-${msgCounter++}`;
    sentAt.set(id, { at: performance.now(), conv });
    t.send(conv, id);
  };
  let outstanding = 0;
  let drained: (() => void) | undefined;
  onAcked = (id, ok) => {
    const s = sentAt.get(id);
    if (!s) return;
    sentAt.delete(id);
    outstanding--;
    if (ok) {
      acked++;
      recordMs(ackHist, performance.now() - s.at);
    } else errors++;
    if (running) {
      outstanding++;
      sendOne(s.conv);
    } else if (outstanding === 0) drained?.();
  };
  onDelivered = () => undefined;
  const t0 = performance.now();
  for (let c = 0; c < t.size; c++) {
    for (let w = 0; w < a.window; w++) {
      outstanding++;
      sendOne(c);
    }
  }
  await new Promise((r) => setTimeout(r, a.durationMs));
  running = false;
  const seconds = (performance.now() - t0) / 1000;
  const ackedInWindow = acked;
  await new Promise<void>((r) => {
    drained = r;
    if (outstanding === 0) r();
    setTimeout(r, 10_000);
  });
  inFlight.clear();
  onAcked = undefined;
  onDelivered = undefined;
  return { acked: ackedInWindow, errors, seconds, ackHist: encode(ackHist) };
}

/** Idle connections: raw WebSockets to the uWS baseline, or consumer sockets to the gateway. */
async function idleSessions(a: { url: string; tenant: GatewayTenant; count: number }) {
  if (!(target instanceof GatewayTarget)) target = createTarget('gateway', a.url, events, a.tenant);
  const t0 = performance.now();
  await (target as GatewayTarget).createSessions(a.count, 32);
  return { sessions: (target as GatewayTarget).customers.length, seconds: (performance.now() - t0) / 1000 };
}

async function idleConnect(a: { kind: 'uws' | 'gateway'; url: string; count: number }) {
  const t0 = performance.now();
  if (a.kind === 'uws') {
    const base = a.url.replace(/^http/, 'ws');
    const start = idle.length;
    const opened = await pool(
      Array.from({ length: a.count }, (_, k) => start + k),
      200,
      (i) => openRaw(`${base}/relay?pair=idle${i}&role=c`),
    );
    idle.push(...opened);
    return { connections: idle.length, seconds: (performance.now() - t0) / 1000 };
  }
  const g = target as GatewayTarget;
  const from = g.size;
  await g.connectCustomers(from, from + a.count, 200);
  return { connections: g.size, seconds: (performance.now() - t0) / 1000 };
}

function closeAll() {
  target?.close();
  target = undefined;
  for (const w of idle.splice(0)) w.terminate();
  inFlight.clear();
}

const { resume } = await import('./resume.js');

serve(
  {
    open,
    step,
    durable,
    idleSessions,
    idleConnect,
    resume: (a) => resume(a, (url, tenant) => new GatewayTarget(url, events, tenant)),
    close: () => closeAll(),
  },
  () => closeAll(),
  { genId },
);
