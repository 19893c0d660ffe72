/**
 * The five scenarios of issue 4, each run against the gateway and, where the issue names one, its
 * same-run baseline. Servers and generators are separate processes; every phase is measured
 * with the CPU of each process involved.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CpuMeter, type CpuReading, type ProcessGroup, round, singleProcess } from './cpu.js';
import type { BenchEnv } from './env.js';
import { rest } from './gen/clients.js';
import type { GatewayTenant, TargetKind } from './gen/targets.js';
import { merge, summarize, type LatencySummary } from './hist.js';
import { Child } from './proc.js';
import { type ProfileSummary, summarizeProfile } from './profile.js';
import type { Sizes } from './sizes.js';

export interface Ctx {
  env: BenchEnv;
  sizes: Sizes;
  generators: number;
  /** Directory for --cpu-prof output of the gateway; undefined = no profiling. */
  profileDir?: string;
  /** Extra `nexus` config merged over the engine's (settings comparisons). */
  gatewayOverrides: Record<string, unknown>;
  log: (msg: string) => void;
}

const SERVER_SCRIPT: Record<TargetKind, string> = {
  uws: './servers/uws-relay.ts',
  socketio: './servers/socketio-relay.ts',
  gateway: './servers/gateway.ts',
};

export async function startServer(
  ctx: Ctx,
  kind: TargetKind,
  opts: { env?: Record<string, string>; overrides?: Record<string, unknown> } = {},
): Promise<Child> {
  if (kind !== 'gateway') return Child.start(kind, SERVER_SCRIPT[kind], { env: opts.env });
  const config = deepMerge(deepMerge(ctx.env.nexusConfig(), ctx.gatewayOverrides), opts.overrides ?? {});
  return Child.start('gateway', SERVER_SCRIPT.gateway, {
    env: { BENCH_NEXUS_CONFIG: JSON.stringify(config) },
    readyTimeoutMs: 120_000,
  });
}

export async function startGenerators(n: number): Promise<Child[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      Child.start(`generator-${i}`, './gen/generator.ts', { env: { BENCH_GEN_ID: String(i) } }),
    ),
  );
}

/** One tenant for the run, one endpoint and queue per generator (routing stays inside a generator). */
export async function createTenant(server: Child, generators: number): Promise<GatewayTenant[]> {
  const url = server.info.url as string;
  const adminToken = server.info.adminToken as string;
  const admin = { authorization: `Bearer ${adminToken}` };
  const ccid = `bench-${randomBytes(4).toString('hex')}`;
  const t = await rest(url, 'POST', '/nexus/v3/provisioning/tenants', {
    headers: admin,
    json: { id: ccid, name: `Benchmark ${ccid}`, type: 'PureEngage' },
  });
  const apiKey = t?.data?.xapikey;
  if (!apiKey) throw new Error(`no xapikey in ${JSON.stringify(t)}`);
  const out: GatewayTenant[] = [];
  for (let g = 0; g < generators; g++) {
    const endpoint = `bench-g${g}`;
    const queue = `bench-q${g}`;
    await rest(url, 'PUT', `/nexus/v3/provisioning/endpoints/${ccid}/${endpoint}`, {
      headers: admin,
      json: { queue },
    });
    out.push({ ccid, apiKey, adminToken, endpoint, queue, prefix: `g${g}${randomBytes(2).toString('hex')}` });
  }
  return out;
}

function meter(ctx: Ctx, server: Child, gens: Child[], extra: ProcessGroup[] = []): CpuMeter {
  return new CpuMeter([
    singleProcess('server', `${server.name} (pid ${server.pid})`, () => server.pid),
    ...gens.map((g) => singleProcess(g.name, `load generator (pid ${g.pid})`, () => g.pid)),
    ...(server.name === 'gateway' ? ctx.env.storageGroups : []),
    ...extra,
  ]);
}

/** Runs `fn` with the gateway's CPU profiler on when profiling was asked for. */
async function profiled<T>(ctx: Ctx, server: Child, phase: string, fn: () => Promise<T>): Promise<T> {
  if (!ctx.profileDir || server.name !== 'gateway') return fn();
  mkdirSync(ctx.profileDir, { recursive: true });
  await server.call('profileStart');
  try {
    return await fn();
  } finally {
    await server.call('profileStop', { file: join(ctx.profileDir, `gateway-${phase}.cpuprofile`) });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// relay and latency

export interface StepResult {
  rate: number;
  scheduled: number;
  delivered: number;
  late: number;
  ack_errors: number;
  latency: LatencySummary;
  ack_latency?: LatencySummary;
  max_send_lag_ms: number;
  pass: boolean;
  cpu: CpuReading[];
  /** Server CPU per delivered message, in microseconds: comparable across noisy runs. */
  server_cpu_us_per_msg: number;
  server_cores: number;
  /** This step repeated a missed rate to confirm the miss. */
  retry_of_miss?: boolean;
}

export interface RampResult {
  kind: TargetKind;
  max_msgs_per_s: number;
  steps: StepResult[];
  /** The server never came near one full core while it failed: the generator was the limit. */
  generator_bound: boolean;
  note?: string;
  setup_seconds: number;
}

interface Running {
  server: Child;
  gens: Child[];
  tenants?: GatewayTenant[];
}

async function openRelay(ctx: Ctx, kind: TargetKind): Promise<Running & { setupSeconds: number }> {
  const server = await startServer(ctx, kind);
  const gens = await startGenerators(ctx.generators);
  const tenants = kind === 'gateway' ? await createTenant(server, gens.length) : undefined;
  const per = Math.max(1, Math.round(ctx.sizes.relay.conversations / gens.length));
  const t0 = performance.now();
  await Promise.all(
    gens.map((g, i) =>
      g.call(
        'open',
        { kind, url: server.info.url, tenant: tenants?.[i], conversations: per, perAgent: 1 },
        600_000,
      ),
    ),
  );
  return { server, gens, tenants, setupSeconds: (performance.now() - t0) / 1000 };
}

export async function runStep(ctx: Ctx, r: Running, rate: number, durationMs: number): Promise<StepResult> {
  const m = meter(ctx, r.server, r.gens);
  const stop = await m.start();
  const parts = await Promise.all(
    r.gens.map((g) =>
      g.call(
        'step',
        { rate: rate / r.gens.length, durationMs, drainMs: ctx.sizes.relay.drainMs },
        durationMs + 120_000,
      ),
    ),
  );
  const cpu = await stop();
  const sum = (k: string) => parts.reduce((a, p) => a + (p[k] as number), 0);
  const latency = summarize(merge(parts.map((p) => p.hist)));
  const ackH = merge(parts.map((p) => p.ackHist));
  const sendSeconds = Math.max(...parts.map((p) => p.sendSeconds as number));
  const delivered = sum('delivered');
  const server = cpu.find((c) => c.name === 'server')!;
  const serverCores = round(server.cpu_seconds / Math.max(0.001, sendSeconds), 3);
  const late = sum('late');
  return {
    rate,
    scheduled: sum('scheduled'),
    delivered,
    late,
    ack_errors: sum('ackErr'),
    latency,
    ack_latency: ackH.totalCount ? summarize(ackH) : undefined,
    max_send_lag_ms: Math.max(...parts.map((p) => p.maxSendLagMs as number)),
    pass: latency.p99_ms < ctx.sizes.relay.p99LimitMs && late === 0 && sum('ackErr') === 0,
    cpu: cpu.map((c) => ({ ...c, cores: round(c.cpu_seconds / Math.max(0.001, sendSeconds), 3) })),
    server_cpu_us_per_msg: delivered ? round((server.cpu_seconds * 1e6) / delivered, 1) : 0,
    server_cores: serverCores,
  };
}

async function ramp(ctx: Ctx, kind: TargetKind, r: Running, setupSeconds: number): Promise<RampResult> {
  const s = ctx.sizes.relay;
  const steps: StepResult[] = [];
  const once = async (rate: number) => {
    const st = await runStep(ctx, r, rate, s.stepMs);
    steps.push(st);
    ctx.log(
      `  ${kind} @ ${rate} msg/s: p99 ${st.latency.p99_ms} ms, delivered ${st.delivered}/${st.scheduled}, server ${st.server_cores} cores, ${st.server_cpu_us_per_msg} µs/msg ${st.pass ? 'PASS' : 'MISS'}`,
    );
    return st;
  };
  // A miss is confirmed by a second try at the same rate: on a shared machine one scheduling
  // stall of another process's making can push a single step's p99 over the limit.
  const run = async (rate: number) => {
    const first = await once(rate);
    if (first.pass || !s.confirmMiss) return first.pass;
    const again = await once(rate);
    again.retry_of_miss = true;
    return again.pass;
  };
  // Warm-up, not recorded: JIT, connection pools and prepared plans settle before the ramp.
  await runStep(ctx, r, s.startRate, s.warmupMs);
  let lastPass = 0;
  let firstFail = 0;
  for (let rate = s.startRate; rate <= s.maxRate; rate = Math.round(rate * s.factor)) {
    if (await run(rate)) lastPass = rate;
    else {
      firstFail = rate;
      break;
    }
  }
  if (firstFail) {
    for (let i = 0; i < s.refine; i++) {
      const mid = Math.round((lastPass + firstFail) / 2);
      if (mid === lastPass || mid === firstFail) break;
      if (await run(mid)) lastPass = mid;
      else firstFail = mid;
    }
  }
  // Where the server was asked for more than it sustained, was it the one that was busy?
  const failing = steps.filter((x) => !x.pass);
  const busiest = (xs: StepResult[]) => Math.max(0, ...xs.map((x) => x.server_cores));
  const generator_bound = failing.length > 0 && busiest(failing) < 0.85;
  const note = generator_bound
    ? `the ${kind} server peaked at ${busiest(failing)} cores where it stopped keeping up: it never reached near 100% of a core, so the generator (or the shared machine), not the server, was measured`
    : failing.length
      ? undefined
      : `never missed up to ${s.maxRate} msg/s (the ramp's top, server at ${busiest(steps)} cores): the maximum is a lower bound`;
  return {
    kind,
    max_msgs_per_s: lastPass,
    steps,
    generator_bound,
    note,
    setup_seconds: round(setupSeconds, 1),
  };
}

async function stopAll(r: Running) {
  for (const g of r.gens) await g.call('close', {}, 60_000).catch(() => undefined);
  await Promise.all(r.gens.map((g) => g.stop()));
  await r.server.stop(60_000);
}

export interface RelayAndLatency {
  relay: Partial<Record<TargetKind, RampResult>>;
  latency?: { rate: number; step: StepResult; note?: string };
}

/** relay for the requested servers; with `latency`, a long step at half the gateway's maximum. */
export async function relayAndLatency(
  ctx: Ctx,
  kinds: TargetKind[],
  withLatency: boolean,
): Promise<RelayAndLatency> {
  const out: RelayAndLatency = { relay: {} };
  for (const kind of kinds) {
    ctx.log(`relay: ${kind}`);
    const r = await openRelay(ctx, kind);
    try {
      out.relay[kind] = await profiled(ctx, r.server, 'relay', () => ramp(ctx, kind, r, r.setupSeconds));
      if (kind === 'gateway' && withLatency) {
        const max = out.relay.gateway!.max_msgs_per_s;
        const rate = Math.max(1, Math.round((max || ctx.sizes.relay.startRate) / 2));
        ctx.log(`latency: gateway @ ${rate} msg/s for ${ctx.sizes.latency.durationMs} ms`);
        const step = await profiled(ctx, r.server, 'latency', () =>
          runStep(ctx, r, rate, ctx.sizes.latency.durationMs),
        );
        out.latency = {
          rate,
          step,
          note: max ? undefined : 'the gateway sustained no ramp step; measured at half the first step',
        };
      }
    } finally {
      await stopAll(r);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// idle memory

export interface IdleResult {
  kind: 'uws' | 'gateway';
  connections: number;
  /** RSS after GC at 0, N/2 and N connections. */
  rss: [number, number, number];
  heap: [number, number, number];
  /** RSS less the V8 heap pages that are reserved but hold nothing live: what the connections really hold. */
  live: [number, number, number];
  rss_bytes_per_conn: number;
  bytes_per_conn: number;
  heap_bytes_per_conn: number;
  connect_seconds: number;
}

async function settledMemory(server: Child) {
  await sleep(1500);
  // Median of three readings, each after a full GC: single readings jump with V8's page release.
  const reads: Array<{ rss: number; heapUsed: number; heapTotal: number; connections: number }> = [];
  for (let i = 0; i < 3; i++) {
    reads.push(await server.call('memory'));
    await sleep(300);
  }
  const live = (m: (typeof reads)[number]) => m.rss - m.heapTotal + m.heapUsed;
  reads.sort((a, b) => live(a) - live(b));
  const m = reads[1];
  return { ...m, live: live(m) };
}

export async function idleMemory(ctx: Ctx): Promise<{ uws: IdleResult; gateway: IdleResult }> {
  const n = ctx.sizes.idle.connections;
  const half = Math.floor(n / 2);
  const results: Partial<Record<'uws' | 'gateway', IdleResult>> = {};
  for (const kind of ['uws', 'gateway'] as const) {
    ctx.log(`idle_memory: ${kind}, ${n} connections`);
    const server = await startServer(ctx, kind);
    const [gen] = await startGenerators(1);
    try {
      if (kind === 'gateway') {
        const [tenant] = await createTenant(server, 1);
        const s = await gen.call('idleSessions', { url: server.info.url, tenant, count: n }, 900_000);
        ctx.log(`  ${n} chat sessions created in ${round(s.seconds, 1)} s`);
      }
      const m0 = await settledMemory(server);
      const t0 = performance.now();
      await gen.call('idleConnect', { kind, url: server.info.url, count: half }, 900_000);
      const m1 = await settledMemory(server);
      await gen.call('idleConnect', { kind, url: server.info.url, count: n - half }, 900_000);
      const connectSeconds = (performance.now() - t0) / 1000;
      const m2 = await settledMemory(server);
      const slope = (m2.live - m1.live) / (n - half);
      results[kind] = {
        kind,
        connections: m2.connections,
        rss: [m0.rss, m1.rss, m2.rss],
        live: [m0.live, m1.live, m2.live],
        rss_bytes_per_conn: Math.round((m2.rss - m1.rss) / (n - half)),
        heap: [m0.heapUsed, m1.heapUsed, m2.heapUsed],
        bytes_per_conn: Math.round(slope),
        heap_bytes_per_conn: Math.round((m2.heapUsed - m1.heapUsed) / (n - half)),
        connect_seconds: round(connectSeconds, 1),
      };
      ctx.log(
        `  ${kind}: ${results[kind]!.bytes_per_conn} B/conn (live-memory slope), ${m2.connections} open`,
      );
    } finally {
      await gen.call('close', {}, 120_000).catch(() => undefined);
      await gen.stop();
      await server.stop(60_000);
    }
  }
  return results as { uws: IdleResult; gateway: IdleResult };
}

// ---------------------------------------------------------------------------------------------
// resume

export async function resumeScenario(ctx: Ctx) {
  const s = ctx.sizes.resume;
  ctx.log(`resume: ${s.customers} customers, agents writing ${s.agentRate} msg/s`);
  const server = await startServer(ctx, 'gateway');
  const [gen] = await startGenerators(1);
  try {
    const [tenant] = await createTenant(server, 1);
    const m = meter(ctx, server, [gen]);
    const stop = await m.start();
    const r = await profiled(ctx, server, 'resume', () =>
      gen.call('resume', { url: server.info.url, tenant, ...s }, 1_800_000),
    );
    const cpu = await stop();
    ctx.log(`  reconnected ${r.reconnected}, lost ${r.lost}, duplicated ${r.duplicated}, ${r.seconds} s`);
    return { ...r, cpu };
  } finally {
    await gen.stop();
    await server.stop(60_000);
  }
}

// ---------------------------------------------------------------------------------------------
// durable

export async function durableScenario(ctx: Ctx) {
  const s = ctx.sizes.durable;
  ctx.log(`durable: ${s.conversations} conversations × ${s.window} in flight`);
  const server = await startServer(ctx, 'gateway');
  const gens = await startGenerators(ctx.generators);
  try {
    const tenants = await createTenant(server, gens.length);
    const per = Math.max(1, Math.round(s.conversations / gens.length));
    await Promise.all(
      gens.map((g, i) =>
        g.call(
          'open',
          {
            kind: 'gateway',
            url: server.info.url,
            tenant: tenants[i],
            conversations: per,
            perAgent: s.perAgent,
          },
          600_000,
        ),
      ),
    );
    const m = meter(ctx, server, gens);
    const before = await server.call('commitStats');
    let stop = await m.start();
    const parts = await profiled(ctx, server, 'durable', () =>
      Promise.all(
        gens.map((g) =>
          g.call('durable', { durationMs: s.durationMs, window: s.window }, s.durationMs + 120_000),
        ),
      ),
    );
    const gatewayCpu = await stop();
    const after = await server.call('commitStats');
    const batches = after.batches - before.batches;
    // How the group commit behaved: a writer with one transaction in flight carries at most
    // (messages per batch) / (transaction time) messages per second.
    const commits = {
      batches,
      mean_batch: batches ? round((after.messages - before.messages) / batches, 1) : 0,
      mean_commit_ms: batches ? round((after.commit_ms - before.commit_ms) / batches, 1) : 0,
      busy_fraction: round((after.commit_ms - before.commit_ms) / 1000 / (s.durationMs / 1000), 2),
    };
    const acked = parts.reduce((a, p) => a + p.acked, 0);
    const seconds = Math.max(...parts.map((p) => p.seconds));
    const gateway = {
      acked,
      errors: parts.reduce((a, p) => a + p.errors, 0),
      seconds: round(seconds, 2),
      msgs_per_s: Math.round(acked / seconds),
      ack_latency: summarize(merge(parts.map((p) => p.ackHist))),
      commits,
      cpu: gatewayCpu,
    };
    ctx.log(
      `  gateway: ${gateway.msgs_per_s} acked msg/s (p99 ack ${gateway.ack_latency.p99_ms} ms; ${commits.batches} commits of ${commits.mean_batch} messages, ${commits.mean_commit_ms} ms each)`,
    );
    for (const g of gens) await g.call('close', {}, 60_000).catch(() => undefined);

    // The baseline inserts the same rows into the same database, as fast as multi-row INSERTs go.
    const embedded = ctx.env.engine === 'embedded';
    const connection = embedded
      ? { ...(server.info.db as { host: string; port: number }), user: 'postgres', database: 'postgres' }
      : ctx.env.pgConnection!;
    const concurrency = embedded ? 1 : Number((ctx.env.nexusConfig().db as any)?.poolSize ?? 10);
    const batcher = await Child.start('pg-batch', './gen/pg-batch.ts');
    try {
      const bm = new CpuMeter([
        singleProcess('pg-batch', `raw INSERT client (pid ${batcher.pid})`, () => batcher.pid),
        ...ctx.env.storageGroups,
      ]);
      if (embedded)
        bm.add(singleProcess('gateway', 'gateway process (holds the embedded PGlite)', () => server.pid));
      stop = await bm.start();
      const b = await batcher.call(
        'run',
        { connection, durationMs: s.durationMs, batch: s.pgBatch, concurrency, sampleRows: 20_000 },
        s.durationMs * 20 + 120_000,
      );
      const batchCpu = await stop();
      const baseline = { ...b, rows_per_s: Math.round(b.rowsPerSecond), cpu: batchCpu };
      ctx.log(`  raw batched INSERT: ${baseline.rows_per_s} rows/s into copies of ${b.table}`);
      return { gateway, pg_batch: baseline };
    } finally {
      await batcher.stop();
    }
  } finally {
    await Promise.all(gens.map((g) => g.stop()));
    await server.stop(60_000);
  }
}

/** Where the gateway's CPU went in each profiled phase. */
export function profilesIn(dir: string | undefined): ProfileSummary[] {
  if (!dir) return [];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.startsWith('gateway-') && f.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return files.map((f) => ({ ...summarizeProfile(join(dir, f)), phase: f.slice(8, -'.cpuprofile'.length) }));
}

// ---------------------------------------------------------------------------------------------
// settings: what compression, the msgpack parser and the group-commit window cost

export interface SettingsResult {
  rate: number;
  socketio: Array<{
    parser: 'json' | 'msgpack';
    deflate: boolean;
    server_us_per_msg: number;
    p50_ms: number;
    p99_ms: number;
  }>;
  commitWindow: Array<{
    window_ms: number;
    p50_ms: number;
    p99_ms: number;
    server_us_per_msg: number;
    acked_msgs_per_s: number;
    mean_batch: number;
    mean_commit_ms: number;
  }>;
}

/**
 * The gateway does not expose compression or the parser, so those two are measured where a team
 * would switch them, on the plain socket.io relay (driven by the real socket.io-client); the
 * group-commit window is the gateway's own `chat.commitWindowMs`.
 */
export async function settingsScenario(ctx: Ctx): Promise<SettingsResult> {
  const s = ctx.sizes.settings;
  const out: SettingsResult = { rate: s.rate, socketio: [], commitWindow: [] };
  for (const parser of ['json', 'msgpack'] as const) {
    for (const deflate of [false, true]) {
      ctx.log(`settings: socket.io relay, parser ${parser}, deflate ${deflate ? 'on' : 'off'}`);
      const server = await startServer(ctx, 'socketio', {
        env: { BENCH_SIO_PARSER: parser, BENCH_SIO_DEFLATE: deflate ? '1' : '0' },
      });
      const gens = await startGenerators(1);
      const r = { server, gens };
      try {
        await gens[0].call('open', {
          kind: 'socketio',
          url: server.info.url,
          conversations: s.conversations,
          lib: { msgpack: parser === 'msgpack', deflate },
        });
        await runStep(ctx, r, s.rate, s.warmupMs);
        const st = await runStep(ctx, r, s.rate, s.durationMs);
        out.socketio.push({
          parser,
          deflate,
          server_us_per_msg: st.server_cpu_us_per_msg,
          p50_ms: st.latency.p50_ms,
          p99_ms: st.latency.p99_ms,
        });
      } finally {
        await stopAll(r);
      }
    }
  }
  for (const windowMs of s.windows) {
    ctx.log(`settings: gateway, chat.commitWindowMs ${windowMs}`);
    const server = await startServer(ctx, 'gateway', { overrides: { chat: { commitWindowMs: windowMs } } });
    const gens = await startGenerators(1);
    const r = { server, gens };
    try {
      const [tenant] = await createTenant(server, 1);
      await gens[0].call(
        'open',
        { kind: 'gateway', url: server.info.url, tenant, conversations: s.conversations, perAgent: 1 },
        600_000,
      );
      await runStep(ctx, r, s.rate, s.warmupMs);
      const st = await runStep(ctx, r, s.rate, s.durationMs);
      const before = await server.call('commitStats');
      const d = await gens[0].call(
        'durable',
        { durationMs: s.durationMs, window: 4 },
        s.durationMs + 120_000,
      );
      const after = await server.call('commitStats');
      const batches = after.batches - before.batches;
      out.commitWindow.push({
        window_ms: windowMs,
        p50_ms: st.latency.p50_ms,
        p99_ms: st.latency.p99_ms,
        server_us_per_msg: st.server_cpu_us_per_msg,
        acked_msgs_per_s: Math.round(d.acked / d.seconds),
        mean_batch: batches ? round((after.messages - before.messages) / batches, 1) : 0,
        mean_commit_ms: batches ? round((after.commit_ms - before.commit_ms) / batches, 1) : 0,
      });
    } finally {
      await stopAll(r);
    }
  }
  return out;
}

export function deepMerge(a: any, b: any): any {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(b))
    return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v);
  return out;
}
