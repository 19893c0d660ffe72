/**
 * The container image, without a container engine: the Dockerfile is replayed stage by stage
 * (test/cluster/dockerfile.ts says how and what that proves), then both entry points of the runtime
 * stage are started as the image starts them: its CMD, its ENV, as user 500:500, from a tree that
 * user cannot write to but for `data`. The gateway must come up on its embedded defaults, answer
 * the image's HEALTHCHECK and its readiness route, and stop cleanly on SIGTERM; the AI connector
 * must come up with the athena command the chart and docker-compose.yml give it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagePath, replayDockerfile, type Stage } from './dockerfile.js';

const repo = new URL('../..', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Starts `argv` in the runtime stage as the image's USER, resolving with the URL its start log names. */
function startAsImage(
  stage: Stage,
  argv: string[],
  env: Record<string, string>,
  marker: string,
): Promise<Started> {
  const user = stage.user!;
  const child = spawn(
    'setpriv',
    [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...argv],
    {
      cwd: imagePath(stage, '.'),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: imagePath(stage, '.'), ...stage.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const output: string[] = [];
  child.stderr!.on('data', (d) => output.push(String(d)));
  return new Promise<Started>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      output.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === marker && rec.url) resolve({ child, url: rec.url, exited });
      } catch {
        // not a log record
      }
    });
    void exited.then((code) =>
      reject(new Error(`${argv.join(' ')} exited with ${code}:\n${output.join('\n')}`)),
    );
  });
}

describe('the container image (the Dockerfile replayed without an engine)', () => {
  let stages: Map<string, Stage>;
  let runtime: Stage;

  beforeAll(async () => {
    stages = await replayDockerfile(repo);
    runtime = stages.get('final')!;
    // The stage directories stand for `/`: let the image's user walk into them as it would.
    for (const s of stages.values()) spawnSync('chmod', ['755', s.root]);
  }, 600_000);

  afterAll(() => {
    for (const s of stages?.values() ?? []) rmSync(s.root, { recursive: true, force: true });
  });

  it('is multi-stage and runs as the 500:500 user it creates', () => {
    expect([...stages.keys()]).toEqual(['build', 'runtime', 'final']);
    expect(runtime.name).toBe('runtime');
    expect(runtime.user).toEqual({ uid: 500, gid: 500 });
    expect(runtime.declaredIds).toEqual({ uid: 500, gid: 500 });
    expect(runtime.env.NODE_ENV).toBe('production');
    expect(runtime.cmd).toEqual(['node', 'dist/src/bin/nexus.js']);
  });

  it('carries the built entry points and no development dependency', () => {
    for (const bin of ['nexus', 'athena', 'all-in-one'])
      expect(existsSync(imagePath(runtime, `dist/src/bin/${bin}.js`)), bin).toBe(true);
    expect(existsSync(imagePath(runtime, 'dist/web/widget.js'))).toBe(true);
    expect(existsSync(imagePath(runtime, 'migrations'))).toBe(true);
    // Sources, tests and the build's tools stay in the build stage.
    expect(existsSync(imagePath(runtime, 'src'))).toBe(false);
    expect(existsSync(imagePath(runtime, 'test'))).toBe(false);
    for (const dev of ['vitest', 'typescript', 'esbuild', 'playwright-core'])
      expect(existsSync(imagePath(runtime, `node_modules/${dev}`)), dev).toBe(false);
    expect(existsSync(imagePath(runtime, 'node_modules/uWebSockets.js'))).toBe(true);
  });

  it('leaves the image user only its data directory to write', () => {
    const data = statSync(imagePath(runtime, 'data'));
    expect([data.uid, data.gid]).toEqual([500, 500]);
    const app = statSync(imagePath(runtime, '.'));
    expect(app.uid).toBe(0);
    const probe = spawnSync('setpriv', [
      '--reuid=500',
      '--regid=500',
      '--clear-groups',
      'touch',
      imagePath(runtime, 'x'),
    ]);
    expect(probe.status).not.toBe(0);
    accessSync(imagePath(runtime, 'dist/src/bin/nexus.js'), constants.R_OK);
  });

  it('starts the gateway as the image does, passes its HEALTHCHECK, and stops on SIGTERM', async () => {
    const gw = await startAsImage(
      runtime,
      runtime.cmd!,
      { NEXUS_PORT: '0', NEXUS_METRICS_PORT: '0', NEXUS_LOG_LEVEL: 'info' },
      'nexus started',
    );
    try {
      const health = spawnSync(runtime.healthcheck![0], runtime.healthcheck!.slice(1), {
        env: { ...process.env, HEALTHCHECK_URL: `${gw.url}/health/live` },
        timeout: 10_000,
      });
      expect(health.status, String(health.stderr)).toBe(0);
      const ready = await fetch(`${gw.url}/health/ready`);
      expect(ready.status).toBe(200);
      // The embedded database and the generated keys went to the one writable place.
      expect(existsSync(imagePath(runtime, 'data/admin-token'))).toBe(true);
    } finally {
      gw.child.kill('SIGTERM');
    }
    expect(await gw.exited).toBe(0);
  }, 120_000);

  it('starts the AI connector with the athena command', async () => {
    const ai = await startAsImage(
      runtime,
      ['node', 'dist/src/bin/athena.js'],
      { ATHENA_PORT: '0', NEXUS_LOG_LEVEL: 'info' },
      'athena started',
    );
    try {
      const live = await fetch(`${ai.url}/health/live`);
      expect(live.status).toBe(200);
    } finally {
      ai.child.kill('SIGTERM');
    }
    expect(await ai.exited).toBe(0);
  }, 120_000);
});
