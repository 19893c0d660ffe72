/**
 * CI smoke of the benchmark harness: `npm run bench -- --smoke` runs every scenario at a tiny
 * size against every engine (servers and generators as real processes, real PostgreSQL and Redis
 * on the real engine) and writes its report. Timing is not asserted: only that the harness, its
 * baselines and its report still work, and that the report has the JSON shape.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engines } from './helpers/engines.js';

const root = resolve(import.meta.dirname, '..');

function runBench(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'loadtest/bench/cli.ts'), ...args], {
      cwd: root,
      env: { ...process.env, BENCH_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      out += d;
    });
    p.on('exit', (code) => res({ code, out }));
  });
}

describe.each(engines())('bench harness smoke (%s)', (engine) => {
  const dir = mkdtempSync(join(tmpdir(), `bench-smoke-${engine}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario and writes the report, the table and the chart', { timeout: 400_000 }, async () => {
    const jsonFile = join(dir, 'out.json');
    const r = await runBench(['--smoke', '--engine', engine, '--out', dir, '--json', jsonFile]);
    expect(r.code, r.out).toBe(0);

    const rep = JSON.parse(readFileSync(jsonFile, 'utf8'));
    const num = expect.any(Number);
    expect(rep.scenarios).toEqual({
      relay: { gateway_msgs_per_s: num, uws_relay_msgs_per_s: num, socketio_relay_msgs_per_s: num },
      latency: { p50_ms: num, p99_ms: num, p999_ms: num },
      idle_memory: { gateway_bytes_per_conn: num, uws_bytes_per_conn: num },
      resume: { reconnected: num, lost: num, duplicated: num, seconds: expect.anything() },
      durable: { gateway_msgs_per_s: num, pg_batch_rows_per_s: num },
    });
    expect(rep.run.engine).toBe(engine);
    // Every server delivered what it was sent in the smoke step (correctness, not speed).
    for (const kind of ['uws', 'socketio', 'gateway']) {
      const steps = rep.details.relay[kind].steps;
      expect(steps.length).toBeGreaterThan(0);
      expect(steps[0].delivered).toBe(steps[0].scheduled);
      expect(steps[0].cpu.find((c: any) => c.name === 'server').cpu_seconds).toBeGreaterThanOrEqual(0);
    }
    // The resume run lost and duplicated nothing, and every customer came back.
    expect(rep.scenarios.resume.reconnected).toBe(rep.details.resume.customers);
    expect(rep.scenarios.resume.lost).toBe(0);
    expect(rep.scenarios.resume.duplicated).toBe(0);
    expect(rep.scenarios.durable.gateway_msgs_per_s).toBeGreaterThan(0);
    expect(rep.scenarios.durable.pg_batch_rows_per_s).toBeGreaterThan(0);
    expect(rep.targets.map((t: any) => t.scenario)).toEqual(
      expect.arrayContaining(['relay', 'latency', 'idle_memory', 'resume', 'durable']),
    );
    if (engine === 'real') {
      // PostgreSQL and Redis are measured as processes of their own.
      const names = rep.details.durable.gateway.cpu.map((c: any) => c.name);
      expect(names).toEqual(expect.arrayContaining(['server', 'postgres', 'redis']));
    }

    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('| scenario | target | measured | holds |');
    const svg = readFileSync(join(dir, 'chart.svg'), 'utf8').trim();
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<polyline');
    expect(existsSync(join(dir, 'report.json'))).toBe(true);
  });

  it('refuses an unknown scenario with a message and exit code 2', async () => {
    const r = await runBench(['nonsense']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('unknown argument nonsense');
  });
});
