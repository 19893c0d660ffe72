/**
 * What recording a delivery's outcome in one transaction with its hook costs (e838dc1), against the
 * recording before it, measured in the same run: the outbox process (servers/outbox.ts) drains the
 * same number of rows once per round in each mode, alternating, with the CPU of the outbox process
 * and of the run's PostgreSQL backends (PGlite runs inside the outbox process on the embedded engine).
 */
import { CpuMeter, type CpuReading, round, singleProcess } from './cpu.js';
import { Child } from './proc.js';
import { deepMerge, type Ctx } from './scenarios.js';

export type OutboxMode = 'separate' | 'together';

export interface OutboxModeResult {
  mode: OutboxMode;
  rows: number;
  /** Medians of the rounds. */
  deliveries_per_s: number;
  outbox_cpu_us_per_delivery: number;
  postgres_cpu_us_per_delivery: number | null;
}

export interface OutboxResult {
  rounds: number;
  modes: OutboxModeResult[];
  /** together over separate: throughput (< 1 is slower) and CPU per delivery (> 1 is dearer). */
  throughput_ratio: number;
  outbox_cpu_ratio: number;
}

export async function outboxScenario(ctx: Ctx): Promise<OutboxResult> {
  const { rows, rounds } = ctx.sizes.outbox;
  const config = deepMerge(ctx.env.nexusConfig(), ctx.gatewayOverrides);
  const server = await Child.start('outbox', './servers/outbox.ts', {
    env: { BENCH_NEXUS_CONFIG: JSON.stringify(config) },
    readyTimeoutMs: 120_000,
  });
  const runs: Record<OutboxMode, Array<{ perS: number; cpu: CpuReading[] }>> = { separate: [], together: [] };
  try {
    const meter = new CpuMeter([
      singleProcess('server', `outbox (pid ${server.pid})`, () => server.pid),
      ...ctx.env.storageGroups,
    ]);
    // A first drain warms the process and the database; not counted.
    await server.call('fill', { rows: Math.min(rows, 500) });
    await server.call('drain', { mode: 'together' });
    for (let i = 0; i < rounds; i++) {
      for (const mode of i % 2 ? (['together', 'separate'] as const) : (['separate', 'together'] as const)) {
        await server.call('fill', { rows });
        const stop = await meter.start();
        const d = await server.call('drain', { mode }, 600_000);
        const cpu = await stop();
        if (d.sent !== rows) throw new Error(`outbox ${mode}: ${d.sent} of ${rows} SMS rows moved`);
        runs[mode].push({ perS: rows / d.seconds, cpu });
        ctx.log(`  outbox ${mode}: ${Math.round(rows / d.seconds)} deliveries/s`);
      }
    }
  } finally {
    await server.stop(60_000);
  }
  const us = (cpu: CpuReading[], name: string) => {
    const c = cpu.find((x) => x.name === name);
    return c ? round((c.cpu_seconds * 1e6) / rows, 1) : null;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const modes = (['separate', 'together'] as const).map((mode): OutboxModeResult => {
    const rs = runs[mode];
    return {
      mode,
      rows,
      deliveries_per_s: Math.round(median(rs.map((r) => r.perS))),
      outbox_cpu_us_per_delivery: median(rs.map((r) => us(r.cpu, 'server') ?? 0)),
      postgres_cpu_us_per_delivery:
        ctx.env.engine === 'real' ? median(rs.map((r) => us(r.cpu, 'postgres-run') ?? 0)) : null,
    };
  });
  const [sep, tog] = modes;
  return {
    rounds,
    modes,
    throughput_ratio: round(tog.deliveries_per_s / sep.deliveries_per_s, 3),
    outbox_cpu_ratio: round(tog.outbox_cpu_us_per_delivery / sep.outbox_cpu_us_per_delivery, 3),
  };
}
