/**
 * The report: the issue's JSON shape under `scenarios`, the target checks as ratios measured in
 * this one run, the run's conditions, every step's details; plus a markdown table and an SVG chart
 * drawn here (no external service).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import type { TargetKind } from './gen/targets.js';
import type { OutboxResult } from './outbox.js';
import type { ProfileSummary } from './profile.js';
import type { IdleResult, RampResult, SettingsResult, StepResult } from './scenarios.js';

export interface TargetCheck {
  scenario: string;
  target: string;
  measured: string;
  /** Measured value over the target's bound, oriented so that ≥ 1 means the target holds. */
  score: number | null;
  holds: boolean | null;
}

export interface Collected {
  relay?: Partial<Record<TargetKind, RampResult>>;
  latency?: { rate: number; step: StepResult; note?: string };
  idle?: { uws: IdleResult; gateway: IdleResult };
  resume?: Record<string, any>;
  durable?: { gateway: Record<string, any>; pg_batch: Record<string, any> };
  profiles?: ProfileSummary[];
  settings?: SettingsResult;
  outbox?: OutboxResult;
}

export interface RunInfo {
  size: string;
  engine: string;
  storage: string;
  started_at: string;
  seconds: number;
  generators: number;
  gateway_overrides: Record<string, unknown>;
}

export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavg_at_end: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

export function buildReport(c: Collected, run: RunInfo) {
  const scenarios: Record<string, Record<string, unknown>> = {};
  if (c.relay) {
    scenarios.relay = {
      gateway_msgs_per_s: c.relay.gateway?.max_msgs_per_s ?? null,
      uws_relay_msgs_per_s: c.relay.uws?.max_msgs_per_s ?? null,
      socketio_relay_msgs_per_s: c.relay.socketio?.max_msgs_per_s ?? null,
    };
  }
  if (c.latency) {
    const l = c.latency.step.latency;
    scenarios.latency = { p50_ms: l.p50_ms, p99_ms: l.p99_ms, p999_ms: l.p999_ms };
  }
  if (c.idle) {
    scenarios.idle_memory = {
      gateway_bytes_per_conn: c.idle.gateway.bytes_per_conn,
      uws_bytes_per_conn: c.idle.uws.bytes_per_conn,
    };
  }
  if (c.resume) {
    scenarios.resume = {
      reconnected: c.resume.reconnected,
      lost: c.resume.lost,
      duplicated: c.resume.duplicated,
      seconds: c.resume.seconds,
    };
  }
  if (c.durable) {
    scenarios.durable = {
      gateway_msgs_per_s: c.durable.gateway.msgs_per_s,
      pg_batch_rows_per_s: c.durable.pg_batch.rows_per_s,
    };
  }
  return {
    scenarios,
    targets: checkTargets(c),
    run: { ...run, machine: machine() },
    notes: notes(c),
    efficiency: efficiency(c),
    details: c,
  };
}

const r2 = (v: number) => Math.round(v * 100) / 100;

export function checkTargets(c: Collected): TargetCheck[] {
  const out: TargetCheck[] = [];
  const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);
  if (c.relay) {
    const g = c.relay.gateway?.max_msgs_per_s;
    const u = ratio(g, c.relay.uws?.max_msgs_per_s);
    const s = ratio(g, c.relay.socketio?.max_msgs_per_s);
    out.push({
      scenario: 'relay',
      target: '≥ 0.5× raw uWS relay',
      measured: u === undefined ? 'not measured' : `${r2(u)}×`,
      score: u === undefined ? null : r2(u / 0.5),
      holds: u === undefined ? null : u >= 0.5,
    });
    out.push({
      scenario: 'relay',
      target: '≥ 2× plain socket.io relay',
      measured: s === undefined ? 'not measured' : `${r2(s)}×`,
      score: s === undefined ? null : r2(s / 2),
      holds: s === undefined ? null : s >= 2,
    });
  }
  if (c.latency) {
    const p = c.latency.step.latency.p99_ms;
    out.push({
      scenario: 'latency',
      target: 'p99 ≤ 10 ms at half the max rate',
      measured: `${p} ms`,
      score: r2(10 / Math.max(p, 0.001)),
      holds: p <= 10,
    });
  }
  if (c.idle) {
    const { gateway, uws } = c.idle;
    if (uws.bytes_per_conn <= 0 || gateway.bytes_per_conn <= 0) {
      // Too few connections for the slope to rise above the allocator's noise (smoke sizes).
      out.push({
        scenario: 'idle_memory',
        target: '≤ 2.5× raw uWS per connection',
        measured: `not measurable (slopes ${gateway.bytes_per_conn} and ${uws.bytes_per_conn} B/conn)`,
        score: null,
        holds: null,
      });
    } else {
      const q = gateway.bytes_per_conn / uws.bytes_per_conn;
      out.push({
        scenario: 'idle_memory',
        target: '≤ 2.5× raw uWS per connection',
        measured: `${r2(q)}× (${gateway.bytes_per_conn} vs ${uws.bytes_per_conn} B)`,
        score: r2(2.5 / q),
        holds: q <= 2.5,
      });
    }
  }
  if (c.resume) {
    const ok =
      c.resume.lost === 0 && c.resume.duplicated === 0 && c.resume.reconnected === c.resume.customers;
    out.push({
      scenario: 'resume',
      target: `0 lost, 0 duplicated (${c.resume.customers} customers)`,
      measured: `${c.resume.lost} lost, ${c.resume.duplicated} duplicated, ${c.resume.reconnected} reconnected`,
      score: ok ? 1 : 0,
      holds: ok,
    });
  }
  if (c.durable) {
    const q = c.durable.gateway.msgs_per_s / Math.max(1, c.durable.pg_batch.rows_per_s);
    out.push({
      scenario: 'durable',
      target: '≥ 0.5× raw batched INSERT rows/s',
      measured: `${r2(q)}×`,
      score: r2(q / 0.5),
      holds: q >= 0.5,
    });
  }
  return out;
}

export interface Efficiency {
  /** The offered rate all relay servers were measured at (the highest rate common to every ramp). */
  rate: number;
  servers: Array<{
    kind: TargetKind;
    /** Server process CPU per delivered message. */
    server_us_per_msg: number;
    /** PostgreSQL and Redis CPU per message (gateway on the real engines; shared servers). */
    storage_us_per_msg: number;
    /** What one core could carry at that cost: 1e6 / server_us_per_msg. */
    msgs_per_core_s: number;
    p99_ms: number;
  }>;
}

/**
 * CPU per message at one common rate: unlike the maximum rate, it barely moves when other
 * processes compete for the cores, so it is the steadier comparison on a shared machine.
 */
export function efficiency(c: Collected): Efficiency | undefined {
  const ramps = Object.values(c.relay ?? {}).filter((r): r is RampResult => !!r);
  if (ramps.length < 2) return undefined;
  const common = ramps
    .map((r) => new Set(r.steps.map((s) => s.rate)))
    .reduce((a, b) => {
      for (const x of a) if (!b.has(x)) a.delete(x);
      return a;
    });
  if (!common.size) return undefined;
  const rate = Math.max(...common);
  return {
    rate,
    servers: ramps.map((r) => {
      // The last step at that rate (a confirmed retry, when there was one).
      const st = [...r.steps].reverse().find((s) => s.rate === rate)!;
      // This run's own PostgreSQL backends (the whole server is shared with other users) and Redis.
      const storage = st.cpu
        .filter((x) => x.name === 'postgres-run' || x.name === 'redis')
        .reduce((a, x) => a + x.cpu_seconds, 0);
      return {
        kind: r.kind,
        server_us_per_msg: st.server_cpu_us_per_msg,
        storage_us_per_msg: st.delivered ? round1((storage * 1e6) / st.delivered) : 0,
        msgs_per_core_s: st.server_cpu_us_per_msg ? Math.round(1e6 / st.server_cpu_us_per_msg) : 0,
        p99_ms: st.latency.p99_ms,
      };
    }),
  };
}

const round1 = (v: number) => Math.round(v * 10) / 10;

function notes(c: Collected): string[] {
  const n: string[] = [];
  for (const r of Object.values(c.relay ?? {})) if (r?.note) n.push(`relay/${r.kind}: ${r.note}`);
  if (c.latency?.note) n.push(`latency: ${c.latency.note}`);
  return n;
}

// ---------------------------------------------------------------------------------------------

type Report = ReturnType<typeof buildReport>;

export function markdown(rep: Report): string {
  const L: string[] = [];
  const m = rep.run.machine;
  L.push(
    `Run: \`${rep.run.size}\`, ${rep.run.started_at}, ${Math.round(rep.run.seconds)} s; storage: ${rep.run.storage}.`,
  );
  L.push(
    `Machine: ${m.cores} × ${m.cpu}, ${m.memory_gb} GB, Node ${m.node}; load average at the end ${m.loadavg_at_end.join(' / ')}.`,
  );
  L.push('');
  L.push('| scenario | target | measured | holds |');
  L.push('|---|---|---|---|');
  for (const t of rep.targets)
    L.push(
      `| ${t.scenario} | ${t.target} | ${t.measured} | ${t.holds === null ? 'n/a' : t.holds ? 'yes' : '**no**'} |`,
    );
  L.push('');
  const d = rep.details;
  if (d.relay) {
    L.push(
      '| relay server | max msg/s at p99 < 50 ms | server CPU at that rate | server µs CPU / msg | generator-bound |',
    );
    L.push('|---|---|---|---|---|');
    for (const k of ['gateway', 'uws', 'socketio'] as const) {
      const r = d.relay[k];
      if (!r) continue;
      const at = r.steps.find((s) => s.rate === r.max_msgs_per_s) ?? r.steps[0];
      L.push(
        `| ${label(k)} | ${r.max_msgs_per_s} | ${at?.server_cores ?? '-'} cores | ${at?.server_cpu_us_per_msg ?? '-'} | ${r.generator_bound ? 'yes' : 'no'} |`,
      );
    }
    L.push('');
  }
  if (rep.efficiency) {
    L.push(
      `CPU per message at ${rep.efficiency.rate} msg/s, the highest rate every relay server was run at (steadier than the maxima on a shared machine):`,
    );
    L.push('');
    L.push(
      '| relay server | server µs CPU / msg | PostgreSQL (own database backends) + Redis µs CPU / msg | msg/s one core carries at that cost | p99 ms |',
    );
    L.push('|---|---|---|---|---|');
    for (const e of rep.efficiency.servers)
      L.push(
        `| ${label(e.kind)} | ${e.server_us_per_msg} | ${e.storage_us_per_msg} | ${e.msgs_per_core_s} | ${e.p99_ms} |`,
      );
    L.push('');
  }
  if (d.latency) {
    const l = d.latency.step.latency;
    L.push(
      `Latency at ${d.latency.rate} msg/s (half the gateway's max), customer → agent: p50 ${l.p50_ms} ms, p99 ${l.p99_ms} ms, p99.9 ${l.p999_ms} ms, max ${l.max_ms} ms over ${l.count} messages.`,
    );
    L.push('');
  }
  if (d.idle) {
    L.push(
      `Idle memory (slope of RSS less unused V8 heap, after GC, between ${Math.floor(d.idle.uws.connections / 2)} and ${d.idle.uws.connections} connections): gateway ${d.idle.gateway.bytes_per_conn} B/conn (heap ${d.idle.gateway.heap_bytes_per_conn}), raw uWS ${d.idle.uws.bytes_per_conn} B/conn.`,
    );
    L.push('');
  }
  if (d.resume) {
    L.push(
      `Resume: ${d.resume.customers} customers dropped at once while agents wrote ${d.resume.agentMessagesSent} messages (${d.resume.agentMessagesAcked} acked); ${d.resume.reconnected} reconnected in ${d.resume.allReconnectedSeconds} s, all resumed after ${d.resume.seconds ?? 'never'} s; lost ${d.resume.lost}, duplicated ${d.resume.duplicated}.`,
    );
    L.push('');
  }
  if (d.durable) {
    L.push(
      `Durable: gateway ${d.durable.gateway.msgs_per_s} acked msg/s (ack p99 ${d.durable.gateway.ack_latency.p99_ms} ms; ${d.durable.gateway.commits?.batches} group commits of ${d.durable.gateway.commits?.mean_batch} messages, ${d.durable.gateway.commits?.mean_commit_ms} ms each, writer busy ${Math.round((d.durable.gateway.commits?.busy_fraction ?? 0) * 100)}% of the time); raw batched INSERT ${d.durable.pg_batch.rows_per_s} rows/s (${d.durable.pg_batch.batch} rows per statement, ${d.durable.pg_batch.concurrency} connections, into copies of \`${d.durable.pg_batch.table}\`).`,
    );
    L.push('');
  }
  if (d.settings) {
    const st = d.settings;
    L.push(
      `Settings, plain socket.io relay at ${st.rate} msg/s (socket.io-client on both sides; deflate with threshold 0):`,
    );
    L.push('');
    L.push('| parser | per-message deflate | server µs CPU / msg | p50 ms | p99 ms |');
    L.push('|---|---|---|---|---|');
    for (const v of st.socketio)
      L.push(
        `| ${v.parser} | ${v.deflate ? 'on' : 'off'} | ${v.server_us_per_msg} | ${v.p50_ms} | ${v.p99_ms} |`,
      );
    L.push('');
    L.push(
      `Settings, gateway group-commit window (\`chat.commitWindowMs\`), latency at ${st.rate} msg/s and closed-loop acks:`,
    );
    L.push('');
    L.push(
      '| window ms | p50 ms | p99 ms | server µs CPU / msg | acked msg/s (closed loop) | mean batch | mean commit ms |',
    );
    L.push('|---|---|---|---|---|---|---|');
    for (const w of st.commitWindow)
      L.push(
        `| ${w.window_ms} | ${w.p50_ms} | ${w.p99_ms} | ${w.server_us_per_msg} | ${w.acked_msgs_per_s} | ${w.mean_batch} | ${w.mean_commit_ms} |`,
      );
    L.push('');
  }
  if (d.outbox) {
    const o = d.outbox;
    L.push(
      `Outbox, an outcome and its hook's write in separate statements (before e838dc1) or in one transaction, ${o.modes[0].rows} deliveries per drain, ${o.rounds} rounds: together/separate throughput ${o.throughput_ratio}×, outbox CPU per delivery ${o.outbox_cpu_ratio}×.`,
    );
    L.push('');
    L.push('| outcome recorded | deliveries/s | outbox µs CPU / delivery | PostgreSQL µs CPU / delivery |');
    L.push('|---|---|---|---|');
    for (const m of o.modes)
      L.push(
        `| ${m.mode} | ${m.deliveries_per_s} | ${m.outbox_cpu_us_per_delivery} | ${m.postgres_cpu_us_per_delivery ?? 'in the outbox process'} |`,
      );
    L.push('');
  }
  for (const n of rep.notes) L.push(`- ${n}`);
  if (rep.notes.length) L.push('');
  for (const p of d.profiles ?? []) {
    L.push(
      `Gateway profile, ${p.phase ?? 'run'} phase (${p.busy_ms} ms on CPU, main thread): self time by area`,
    );
    L.push('');
    L.push('| area | self ms | % |');
    L.push('|---|---|---|');
    for (const a of p.top_areas.slice(0, 12)) L.push(`| ${a.area} | ${a.self_ms} | ${a.pct} |`);
    L.push('');
    L.push('| function | where | self ms | % |');
    L.push('|---|---|---|---|');
    for (const f of p.top_functions.slice(0, 15))
      L.push(`| ${f.name} | ${f.where} | ${f.self_ms} | ${f.pct} |`);
    L.push('');
  }
  return L.join('\n');
}

function label(k: TargetKind): string {
  return k === 'gateway'
    ? 'gateway (persist-before-ack)'
    : k === 'uws'
      ? 'raw uWS relay'
      : 'plain socket.io relay';
}

// ---------------------------------------------------------------------------------------------

const COLORS: Record<TargetKind, string> = { gateway: '#1f77b4', uws: '#2ca02c', socketio: '#d62728' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Two panels: p99 latency against offered rate for each relay server, and every target as a bar. */
export function svgChart(rep: Report): string {
  const W = 1160;
  const H = 380;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(
    `<text x="20" y="22" font-size="15" font-weight="bold">nexus benchmark (${esc(rep.run.size)}, ${esc(rep.run.engine)}; ${rep.run.machine.cores} cores, ${esc(rep.run.started_at.slice(0, 16))})</text>`,
  );

  // Panel A: p99 vs rate, log-log.
  const ax = { x: 70, y: 50, w: 400, h: 270 };
  const steps = Object.values(rep.details.relay ?? {}).flatMap((r) => r?.steps ?? []);
  if (steps.length) {
    const rates = steps.map((s) => s.rate);
    const lats = steps.map((s) => Math.max(0.1, s.latency.p99_ms));
    const x0 = Math.log10(Math.min(...rates) / 1.2);
    const x1 = Math.log10(Math.max(...rates) * 1.2);
    const y0 = Math.log10(Math.min(0.5, ...lats));
    const y1 = Math.log10(Math.max(100, ...lats) * 1.5);
    const X = (v: number) => ax.x + ((Math.log10(v) - x0) / (x1 - x0)) * ax.w;
    const Y = (v: number) => ax.y + ax.h - ((Math.log10(Math.max(0.1, v)) - y0) / (y1 - y0)) * ax.h;
    o.push(`<rect x="${ax.x}" y="${ax.y}" width="${ax.w}" height="${ax.h}" fill="none" stroke="#999"/>`);
    for (let e = Math.ceil(y0); e <= Math.floor(y1); e++) {
      const v = 10 ** e;
      o.push(`<line x1="${ax.x}" x2="${ax.x + ax.w}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`);
      o.push(`<text x="${ax.x - 6}" y="${Y(v) + 4}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
    for (let e = Math.floor(x0); e <= Math.floor(x1); e++) {
      for (const mnt of [1, 2, 5]) {
        const v = mnt * 10 ** e;
        if (Math.log10(v) < x0 || Math.log10(v) > x1) continue;
        o.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${ax.y}" y2="${ax.y + ax.h}" stroke="#f2f2f2"/>`);
        o.push(
          `<text x="${X(v)}" y="${ax.y + ax.h + 16}" text-anchor="middle">${v >= 1000 ? `${v / 1000}k` : v}</text>`,
        );
      }
    }
    o.push(
      `<line x1="${ax.x}" x2="${ax.x + ax.w}" y1="${Y(50)}" y2="${Y(50)}" stroke="#000" stroke-dasharray="5,4"/>`,
    );
    o.push(`<text x="${ax.x + ax.w - 4}" y="${Y(50) - 4}" text-anchor="end">p99 limit 50 ms</text>`);
    o.push(
      `<text x="${ax.x + ax.w / 2}" y="${ax.y + ax.h + 34}" text-anchor="middle">offered rate, messages/s (log)</text>`,
    );
    o.push(
      `<text transform="translate(${ax.x - 44},${ax.y + ax.h / 2}) rotate(-90)" text-anchor="middle">p99 customer → agent, ms (log)</text>`,
    );
    let ly = ax.y + 14;
    for (const k of ['gateway', 'uws', 'socketio'] as const) {
      const r = rep.details.relay?.[k];
      if (!r) continue;
      // The line follows the last try at each rate (a confirmed retry); every try is a dot.
      const last = new Map<number, StepResult>();
      for (const st of r.steps) last.set(st.rate, st);
      const line = [...last.values()].sort((a, b) => a.rate - b.rate);
      const pts = r.steps;
      o.push(
        `<polyline fill="none" stroke="${COLORS[k]}" stroke-width="2" points="${line.map((s) => `${X(s.rate).toFixed(1)},${Y(s.latency.p99_ms).toFixed(1)}`).join(' ')}"/>`,
      );
      for (const s of pts)
        o.push(
          `<circle cx="${X(s.rate).toFixed(1)}" cy="${Y(s.latency.p99_ms).toFixed(1)}" r="3" fill="${s.pass ? COLORS[k] : '#fff'}" stroke="${COLORS[k]}"/>`,
        );
      o.push(
        `<rect x="${ax.x + 8}" y="${ly - 9}" width="10" height="10" fill="${COLORS[k]}"/><text x="${ax.x + 24}" y="${ly}">${esc(label(k))}: ${r.max_msgs_per_s} msg/s${r.generator_bound ? ' (generator-bound)' : ''}</text>`,
      );
      ly += 16;
    }
  } else {
    o.push(`<text x="${ax.x}" y="${ax.y + 20}">relay not run</text>`);
  }

  // Panel B: targets, score = measured / bound (≥ 1 holds), on a 0…2 scale.
  const bx = { x: 560, y: 60, w: 300 };
  o.push(
    `<text x="${bx.x - 20}" y="${bx.y - 14}" font-weight="bold">targets (bar = measured ÷ target; past the line = holds)</text>`,
  );
  const rowH = 42;
  const targets = rep.targets;
  const line = bx.x + bx.w / 2;
  targets.forEach((t, i) => {
    const y = bx.y + i * rowH;
    const s = t.score === null ? 0 : Math.min(2, t.score);
    const colour = t.holds === null ? '#bbb' : t.holds ? '#2ca02c' : '#d62728';
    o.push(`<text x="${bx.x - 20}" y="${y + 4}">${esc(`${t.scenario}: ${t.target}`)}</text>`);
    o.push(`<rect x="${bx.x}" y="${y + 9}" width="${bx.w}" height="14" fill="#f4f4f4"/>`);
    o.push(
      `<rect x="${bx.x}" y="${y + 9}" width="${((s / 2) * bx.w).toFixed(1)}" height="14" fill="${colour}"/>`,
    );
    const measured = t.measured.length > 44 ? `${t.measured.slice(0, 43)}…` : t.measured;
    o.push(`<text x="${bx.x + bx.w + 8}" y="${y + 20}">${esc(measured)}</text>`);
  });
  if (targets.length) {
    o.push(
      `<line x1="${line}" x2="${line}" y1="${bx.y + 4}" y2="${bx.y + targets.length * rowH}" stroke="#000" stroke-dasharray="3,3"/>`,
    );
  }
  o.push('</svg>');
  return o.join('\n');
}
