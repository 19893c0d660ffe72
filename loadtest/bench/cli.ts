/**
 * `npm run bench -- <scenario…|--quick|--smoke> [--json FILE] [options]`
 *
 *   scenarios   relay, latency, idle_memory, resume, durable (several allowed); --quick or --smoke run these five;
 *               settings (compression, msgpack parser, group-commit window) and outbox (the outcome
 *               transaction's cost) run only when named
 *   --quick     every scenario, sized to finish in under 5 minutes on 2 cores
 *   --smoke     every scenario at a tiny size (CI: the harness still runs; no timing meaning)
 *   --size S    smoke | quick | full (default full for named scenarios)
 *   --json FILE also write the JSON report there
 *   --out DIR   where report.json, report.md and chart.svg go (default loadtest/results)
 *   --engine E  auto (default: real PostgreSQL/Redis when TEST_PG_HOST/TEST_REDIS_NODES are set) | real | embedded
 *   --profile   run V8's CPU profiler (as --cpu-prof does) in the gateway over each measured phase; summarize it
 *   --generators N   load generator processes (default 1)
 *   --servers L relay: comma-separated subset of uws,socketio,gateway (default all)
 *   --render F  re-draw report.md and chart.svg next to a saved report.json F, and exit
 *   --set k=v   override a gateway `nexus` config key for the run (dotted, JSON value), e.g. --set chat.commitWindowMs=5
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEnv } from './env.js';
import type { TargetKind } from './gen/targets.js';
import { outboxScenario } from './outbox.js';
import { buildReport, type Collected, markdown, svgChart } from './report.js';
import {
  type Ctx,
  durableScenario,
  idleMemory,
  profilesIn,
  relayAndLatency,
  resumeScenario,
  settingsScenario,
} from './scenarios.js';
import { SIZES, type Sizes } from './sizes.js';

/** The five scenarios: what --quick, --smoke and `all` run. */
const ALL = ['relay', 'latency', 'idle_memory', 'resume', 'durable'] as const;
/**
 * Named only: the settings comparison (compression, parser, group-commit window), and what the
 * outbox's outcome transaction costs.
 */
const EXTRA = ['settings', 'outbox'] as const;
type Scenario = (typeof ALL)[number] | (typeof EXTRA)[number];

export interface CliOptions {
  scenarios: Scenario[];
  size: Sizes['name'];
  json?: string;
  out: string;
  engine: 'auto' | 'real' | 'embedded';
  profile: boolean;
  generators: number;
  overrides: Record<string, unknown>;
  /** relay: which servers to ramp (default all three). */
  servers: TargetKind[];
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = {
    scenarios: [],
    size: 'full',
    out: join(root, 'loadtest/results'),
    engine: 'auto',
    profile: false,
    generators: 1,
    overrides: {},
    servers: ['uws', 'socketio', 'gateway'],
  };
  let sized = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick' || a === '--smoke' || a === '--full') {
      o.size = a.slice(2) as Sizes['name'];
      sized = true;
      if (!o.scenarios.length) o.scenarios = [...ALL];
    } else if (a === '--size') {
      const v = next();
      if (!(v in SIZES)) throw new Error(`--size: one of ${Object.keys(SIZES).join(', ')}`);
      o.size = v as Sizes['name'];
      sized = true;
    } else if (a === '--json') o.json = resolve(next());
    else if (a === '--out') o.out = resolve(next());
    else if (a === '--engine') {
      const v = next();
      if (v !== 'auto' && v !== 'real' && v !== 'embedded')
        throw new Error('--engine: auto, real or embedded');
      o.engine = v;
    } else if (a === '--profile') o.profile = true;
    else if (a === '--generators') {
      o.generators = Number(next());
      if (!Number.isInteger(o.generators) || o.generators < 1)
        throw new Error('--generators: a positive integer');
    } else if (a === '--servers') {
      const v = next().split(',') as TargetKind[];
      if (!v.every((k) => k === 'uws' || k === 'socketio' || k === 'gateway'))
        throw new Error('--servers: a comma-separated list of uws, socketio, gateway');
      o.servers = v;
    } else if (a === '--set') {
      const [k, ...rest] = next().split('=');
      const raw = rest.join('=');
      let v: unknown = raw;
      try {
        v = JSON.parse(raw);
      } catch {
        // a bare string
      }
      let cur = o.overrides as Record<string, any>;
      const path = k.split('.');
      for (const p of path.slice(0, -1)) cur = cur[p] ??= {};
      cur[path[path.length - 1]] = v;
    } else if (a === 'all') o.scenarios = [...ALL];
    else if ((ALL as readonly string[]).includes(a) || (EXTRA as readonly string[]).includes(a)) {
      if (!o.scenarios.includes(a as Scenario)) o.scenarios.push(a as Scenario);
    } else throw new Error(`unknown argument ${a} (scenarios: ${[...ALL, ...EXTRA].join(', ')})`);
  }
  if (!o.scenarios.length) throw new Error(`name a scenario (${ALL.join(', ')}) or --quick`);
  if (!sized) o.size = 'full';
  return o;
}

export async function runBench(
  o: CliOptions,
  log: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
) {
  const started = new Date();
  const t0 = performance.now();
  const env = await createEnv(o.engine);
  log(`bench (${o.size}): ${o.scenarios.join(', ')} on ${env.description}`);
  const profileDir = o.profile
    ? join(o.out, `profiles-${started.toISOString().replace(/[:.]/g, '-')}`)
    : undefined;
  const ctx: Ctx = {
    env,
    sizes: SIZES[o.size],
    generators: o.generators,
    profileDir,
    gatewayOverrides: o.overrides,
    log,
  };
  const c: Collected = {};
  // Interrupted (Ctrl-C, a CI timeout): still drop the run's database and keys. The children
  // exit by themselves when the IPC channel closes.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`bench: ${sig}, cleaning up`);
    env.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const wantRelay = o.scenarios.includes('relay');
    const wantLatency = o.scenarios.includes('latency');
    if (wantRelay || wantLatency) {
      const kinds = wantRelay ? o.servers : ['gateway' as const];
      if (wantLatency && !kinds.includes('gateway')) kinds.push('gateway');
      const r = await relayAndLatency(ctx, kinds, wantLatency);
      if (wantRelay) c.relay = r.relay;
      c.latency = r.latency;
    }
    if (o.scenarios.includes('idle_memory')) c.idle = await idleMemory(ctx);
    if (o.scenarios.includes('resume')) c.resume = await resumeScenario(ctx);
    if (o.scenarios.includes('durable')) c.durable = await durableScenario(ctx);
    if (o.scenarios.includes('settings')) c.settings = await settingsScenario(ctx);
    if (o.scenarios.includes('outbox')) c.outbox = await outboxScenario(ctx);
    const profiles = profilesIn(profileDir);
    if (profiles.length) c.profiles = profiles;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await env.close().catch((e) => log(`cleanup: ${(e as Error).message}`));
  }
  const rep = buildReport(c, {
    size: o.size,
    engine: env.engine,
    storage: env.description,
    started_at: started.toISOString(),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    generators: o.generators,
    gateway_overrides: o.overrides,
  });
  mkdirSync(o.out, { recursive: true });
  const json = `${JSON.stringify(rep, null, 2)}\n`;
  writeFileSync(join(o.out, 'report.json'), json);
  writeFileSync(join(o.out, 'report.md'), `${markdown(rep)}\n`);
  writeFileSync(join(o.out, 'chart.svg'), `${svgChart(rep)}\n`);
  if (o.json) {
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, json);
  }
  return rep;
}

/** Re-draws report.md and chart.svg from a saved report.json (same folder). */
function render(file: string): void {
  const rep = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(join(dirname(file), 'report.md'), `${markdown(rep)}\n`);
  writeFileSync(join(dirname(file), 'chart.svg'), `${svgChart(rep)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--render') {
    render(resolve(process.argv[3] ?? 'loadtest/results/report.json'));
    process.exit(0);
  }
  let opts: CliOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  runBench(opts)
    .then((rep) => {
      process.stdout.write(
        `${markdown(rep)}\n\nreport: ${join(opts.out, 'report.json')}, chart: ${join(opts.out, 'chart.svg')}\n`,
      );
      process.exit(0);
    })
    .catch((err) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    });
}
