/**
 * The plugin tutorial (docs/plugins.md) as a plugin author follows it, from a project of their own:
 * `npm pack` this package, install the tarball in a new project in a temp dir, write the files the
 * tutorial prints (taken verbatim from its code blocks marked `<!-- tutorial-file: NAME -->`), run
 * its commands (`<!-- tutorial-commands -->`: the type check against the declarations the package
 * ships, and the plugin's own test), then load the plugin into the installed gateway by config as
 * Step 3 says and watch a chat reach it (Steps 4 and 5). The example in `examples/` is checked the
 * same way. Needs a build (`npm run build`): the package ships `dist/`.
 *
 * The install is offline: npm's cache holds every dependency's tarball (`npm ci` filled it) but not
 * the registry's metadata that `npm install <tgz>` would ask for, so the project gets a lockfile
 * made from the gateway's own (its dependencies pinned as the gateway pins them, the tarball as
 * `file:`) and `npm ci --offline` installs real copies from the cache.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServer } from '../../src/plugins/testing.js';
import { api } from '../helpers/nexus.js';

const ROOT = join(import.meta.dirname, '../..');
const DOC = readFileSync(join(ROOT, 'docs/plugins.md'), 'utf8');
const EXAMPLE = join(ROOT, 'examples/conversation-notifier/conversation-notifier.mjs');

/** The code block right after each `<!-- tutorial-file: NAME -->`, by name. */
function tutorialFiles(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of doc.matchAll(/<!-- tutorial-file: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g))
    out.set(m[1], `${m[2]}\n`);
  return out;
}

/** The command lines of the block after `<!-- tutorial-commands -->`. */
function tutorialCommands(doc: string): string[][] {
  const m = /<!-- tutorial-commands -->\n```sh\n([\s\S]*?)\n```/.exec(doc);
  return (m?.[1] ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.split(/\s+/));
}

/** The environment of a child: without this vitest's own variables (the child runs its own). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(VITEST|TEST_|NODE_OPTIONS$|NEXUS_|npm_)/.test(k)) env[k] = v;
  }
  return { ...env, CI: 'true', NO_COLOR: '1', ...extra };
}

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env = childEnv(),
): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, out };
}

/** A package.json and a lockfile for a project that depends on the tarball (see the header). */
function writeProject(dir: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const spec = `file:${tarball}`;
  const devDependencies = {
    vitest: pkg.devDependencies.vitest,
    typescript: pkg.devDependencies.typescript,
    '@types/node': pkg.devDependencies['@types/node'],
  };
  const root = { name: 'my-plugin', version: '1.0.0', dependencies: { [pkg.name]: spec }, devDependencies };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...root, private: true }, null, 2));
  const packages: Record<string, unknown> = { '': root };
  for (const [path, entry] of Object.entries(lock.packages as Record<string, unknown>)) {
    if (path !== '') packages[path] = entry;
  }
  packages[`node_modules/${pkg.name}`] = {
    version: pkg.version,
    resolved: spec,
    integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify(
      { name: 'my-plugin', version: '1.0.0', lockfileVersion: 3, requires: true, packages },
      null,
      2,
    ),
  );
}

describe('the plugin tutorial, followed from a separate project', () => {
  const timings: Record<string, number> = {};
  let dir: string;
  let project: string;
  let gateway: ChildProcess | undefined;
  const files = tutorialFiles(DOC);

  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[label] = Math.round(performance.now() - t0);
    }
  };

  beforeAll(async () => {
    for (const f of ['dist/src/plugins/sdk.d.ts', 'dist/src/plugins/testing.d.ts', 'dist/src/bin/nexus.js']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
    }
    dir = mkdtempSync(join(tmpdir(), 'nexus-tutorial-'));
    project = join(dir, 'my-plugin');
    mkdirSync(project);
    // --ignore-scripts: `prepare` would rebuild dist/ in this tree; the build is this suite's premise.
    const pack = await timed('pack', () =>
      run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT),
    );
    expect(pack.code, pack.out).toBe(0);
    const [packed] = JSON.parse(pack.out.slice(pack.out.indexOf('[')));
    const shipped = (packed.files as Array<{ path: string }>).map((f) => f.path);
    expect(shipped).toEqual(
      expect.arrayContaining(['dist/src/plugins/sdk.d.ts', 'dist/src/plugins/testing.d.ts']),
    );
    writeProject(project, join(dir, packed.filename));
    const install = await timed('install', () =>
      run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], project),
    );
    expect(install.code, install.out).toBe(0);
  }, 180_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((resolve) => gateway!.once('exit', resolve));
      gateway.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.info('tutorial timings (ms):', JSON.stringify(timings));
  });

  it('the tutorial prints its files and commands in marked blocks', () => {
    expect([...files.keys()].sort()).toEqual([
      'conversation-notifier.mjs',
      'conversation-notifier.test.mjs',
      'tsconfig.json',
    ]);
    expect(tutorialCommands(DOC)).toEqual([
      ['npx', 'tsc'],
      ['npx', 'vitest', 'run'],
    ]);
  });

  it("type-checks the tutorial's files against the shipped declarations and runs the plugin's test", async () => {
    for (const [name, text] of files) writeFileSync(join(project, name), text);
    const [tsc, vitest] = tutorialCommands(DOC);
    const typecheck = await timed('tsc', () => run(tsc[0], tsc.slice(1), project));
    expect(typecheck.code, typecheck.out).toBe(0);
    const test = await timed('vitest', () => run(vitest[0], vitest.slice(1), project));
    expect(test.code, test.out).toBe(0);
    expect(test.out).toMatch(/Tests\s+2 passed \(2\)/);
  }, 60_000);

  it('type-checks the example the same way; a plugin that does not fit its kind is refused', async () => {
    // The finished example the tutorial points to, next to a broken plugin, with the tutorial's
    // settings: the example passes and the broken one fails (so the check has teeth), in one run.
    mkdirSync(join(project, 'example'));
    writeFileSync(join(project, 'example/conversation-notifier.mjs'), readFileSync(EXAMPLE));
    writeFileSync(
      join(project, 'example/broken.mjs'),
      [
        "import { definePlugin, z } from 'nexus-gateway/sdk';",
        'export default definePlugin({',
        "  name: 'broken', kind: 'sms', version: '1.0.0', config: z.object({ url: z.string() }),",
        '  create(ctx) { return { async deliver() { return ctx.config.uri; } }; },',
        '});',
        '',
      ].join('\n'),
    );
    const tsconfig = JSON.parse(files.get('tsconfig.json')!);
    writeFileSync(
      join(project, 'tsconfig.example.json'),
      JSON.stringify({ ...tsconfig, include: ['example/*.mjs'] }),
    );
    const r = await timed('tsc example', () => run('npx', ['tsc', '-p', 'tsconfig.example.json'], project));
    expect(r.code).not.toBe(0);
    const errors = r.out.split('\n').filter((l) => /error TS/.test(l));
    expect(errors.length, r.out).toBeGreaterThan(0);
    for (const e of errors) expect(e, r.out).toMatch(/^example\/broken\.mjs\(4,/);
    expect(r.out).toMatch(
      /broken\.mjs\(4,\d+\): error TS2322: .*\{ deliver\(\): Promise<any>; \}.*SmsProvider/,
    );
    expect(r.out).toMatch(/broken\.mjs\(4,\d+\): error TS2339: Property 'uri' does not exist/);
  }, 60_000);

  it('Steps 3 to 5: the installed gateway loads the plugin by config, a tenant provisions it, a chat reaches it', async () => {
    const chat = await startFakeServer(() => ({ status: 200, body: { ok: true } }));
    try {
      // Step 3 as printed (`NEXUS_PLUGINS_MODULES=./conversation-notifier.mjs npx nexus`), on free ports.
      const step3 = /```sh\n(NEXUS_PLUGINS_MODULES=(\S+) npx nexus)\n```/.exec(DOC);
      expect(step3, 'Step 3 names the module and starts the gateway').not.toBeNull();
      const adminToken = `admin-${createHash('sha1').update(dir).digest('hex')}`;
      const started = performance.now();
      // The bin `npx nexus` runs, started directly so that SIGTERM reaches the gateway itself.
      gateway = spawn(join(project, 'node_modules/.bin/nexus'), [], {
        cwd: project,
        env: childEnv({
          NEXUS_PLUGINS_MODULES: step3![2],
          NEXUS_PORT: '0',
          NEXUS_METRICS_PORT: '0',
          NEXUS_HOST: '127.0.0.1',
          NEXUS_ADMIN_TOKEN: adminToken,
          NEXUS_LOG_LEVEL: 'info',
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      const url = await new Promise<string>((resolve, reject) => {
        const seen = (d: Buffer) => {
          log += d;
          const m = /"url":"(http:\/\/[^"]+)".*"msg":"nexus started"/.exec(log);
          if (m) resolve(m[1]);
        };
        gateway!.stdout!.on('data', seen);
        gateway!.stderr!.on('data', seen);
        gateway!.once('exit', (code) => reject(new Error(`the gateway exited (${code}):\n${log}`)));
      });
      timings['gateway start'] = Math.round(performance.now() - started);

      const admin = { authorization: `Bearer ${adminToken}` };
      const tenant = await api(url, 'POST', '/nexus/v3/provisioning/tenants', {
        headers: admin,
        json: { id: 'tutorial', name: 'Tutorial', type: 'PureEngage' },
      });
      expect([200, 201], JSON.stringify(tenant.body)).toContain(tenant.status);
      const apiKey: string = tenant.body.data.xapikey;
      // Step 4, the curl of the tutorial.
      const provision = await api(
        url,
        'PUT',
        '/nexus/v3/provisioning/services/tutorial/Plugin-conversation-notifier',
        {
          headers: { 'x-api-key': apiKey },
          json: { url: `${chat.url}/hooks/abc`, data: { channel: '#care' }, secret: { token: 'tok-7' } },
        },
      );
      expect(provision.status, JSON.stringify(provision.body)).toBe(201);
      expect(JSON.stringify(provision.body)).not.toContain('tok-7');
      // Step 5: a chat starts; the plugin posts it.
      const session = await api(url, 'POST', '/nexus/v3/chat/sessions', {
        headers: { 'x-api-key': apiKey },
        form: 'data[nickname]=Ada&data[endpoint]=web',
      });
      expect(session.status, JSON.stringify(session.body)).toBe(200);
      const [posted] = await chat.waitForRequests(1, 15_000);
      expect(posted.headers.authorization).toBe('Bearer tok-7');
      expect(posted.json()).toEqual({
        text: `New chat conversation ${session.body.data.conversationId}`,
        channel: '#care',
      });
      expect(log).not.toContain('tok-7');
    } finally {
      await chat.close();
    }
  }, 60_000);
});
