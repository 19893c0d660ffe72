/**
 * The entry points as operators run them: a child process started from the TypeScript sources,
 * configured only by environment variables.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const running: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'nexus-start-'));
  dirs.push(d);
  return d;
}

function start(entry: string, env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/bin', entry), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NEXUS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (re: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(re);
        if (m) resolve(m);
      };
      child.stdout!.on('data', check);
      check();
      exited.then((code) => reject(new Error(`exited ${code} before ${re}: ${out}\n${err}`)));
    });
  return { child, waitFor, exited, output: () => ({ out, err }) };
}

// Each test starts whole processes (PGlite boots in each): allow for a busy machine.
describe('npm start (all-in-one) on embedded defaults', { timeout: 120_000 }, () => {
  it('starts both services from env, prints URLs and the admin token, and is green', async () => {
    const dataDir = tempDir();
    const p = start('all-in-one.ts', {
      NEXUS_PORT: '0',
      NEXUS_METRICS_PORT: '0',
      ATHENA_PORT: '0',
      NEXUS_DATA_DIR: dataDir,
      NEXUS_ADMIN_TOKEN: 'token-from-env',
    });
    const [, nexusPort] = await p.waitFor(/nexus +http:\/\/[\d.]+:(\d+)/);
    const [, metricsPort] = await p.waitFor(/metrics +http:\/\/[\d.]+:(\d+)/);
    const [, athenaPort] = await p.waitFor(/athena +http:\/\/[\d.]+:(\d+)/);
    expect(p.output().out).toContain('admin token: token-from-env');

    const health = await (await fetch(`http://127.0.0.1:${nexusPort}/health/detail`)).json();
    expect(health.state).toBe('green');
    const athena = await (await fetch(`http://127.0.0.1:${athenaPort}/health/detail`)).json();
    expect(athena.isReady).toBe(true);
    expect(athena.redis.state).toBe('READY');
    expect(typeof athena.db.latency).toBe('number');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('nexus_process_cpu_seconds_total');

    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('generates an admin token once and keeps it in the data dir across restarts', async () => {
    const dataDir = tempDir();
    const env = { NEXUS_PORT: '0', NEXUS_METRICS_PORT: '0', ATHENA_PORT: '0', NEXUS_DATA_DIR: dataDir };
    const a = start('all-in-one.ts', env);
    const [, first] = await a.waitFor(/admin token: (\S+)/);
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()).toBe(first);
    const b = start('all-in-one.ts', env);
    const [, second] = await b.waitFor(/admin token: (\S+)/);
    expect(second).toBe(first);
  });

  it('refuses to start on a bad value and names the key', async () => {
    const p = start('nexus.ts', { NEXUS_PORT: 'eighty', NEXUS_DATA_DIR: tempDir() });
    expect(await p.exited).toBe(2);
    expect(p.output().err).toMatch(/NEXUS_PORT|nexus\.port/);
  });

  it('refuses an unknown key in the YAML file and names it', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'nexus:\n  redis:\n    nodez: redis://x\n');
    const p = start('nexus.ts', { NEXUS_DATA_DIR: dir }, ['--config', file]);
    expect(await p.exited).toBe(2);
    expect(p.output().err).toContain('nodez');
  });

  it('reads the YAML file named by NEXUS_CONFIG, with env winning over it', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      `nexus:\n  port: 1\n  metricsPort: 0\n  adminToken: from-yaml\n  dataDir: ${dir}\nathena:\n  port: 0\n`,
    );
    const p = start('all-in-one.ts', { NEXUS_CONFIG: file, NEXUS_PORT: '0' });
    const [, port] = await p.waitFor(/nexus +http:\/\/[\d.]+:(\d+)/);
    expect(Number(port)).toBeGreaterThan(1);
    expect(p.output().out).toContain('admin token: from-yaml');
  });

  it('applies migrations with the migrate command', async () => {
    const dir = tempDir();
    const p = start('nexus.ts', { NEXUS_DATA_DIR: dir }, ['migrate']);
    expect(await p.exited).toBe(0);
    expect(p.output().out).toMatch(/applied: 0001_foundation/);
    const again = start('nexus.ts', { NEXUS_DATA_DIR: dir }, ['migrate']);
    expect(await again.exited).toBe(0);
    expect(again.output().out).toContain('up to date');
  });
});
