/**
 * The Helm charts, the container image and docker-compose against the deployment guide and the code:
 * every guide parameter with its default; every config key the code reads (read from the schema now,
 * so a new key fails here until the charts carry it) has a values entry and reaches the process
 * through the rendered ConfigMap or Secret, and every values key under nexus./athena. is a config
 * key. The charts are rendered by scripts/charts-render.ts (Go template semantics, no helm binary)
 * and the rendered config is loaded with the real `loadConfig`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAthena } from '../src/bots/athena.js';
import { athenaSchema, configLeaves, configSchema, envName, loadConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';
import { engines, realEngines } from './helpers/engines.js';
import { startNexus } from './helpers/nexus.js';
import { parseTemplate, renderChart, TemplateError } from '../scripts/charts-render.js';

const root = join(import.meta.dirname, '..');
const chartDir = (name: string) => join(root, 'charts', name);
// `merge`: docker-compose.yml shares settings through YAML merge keys (`<<: *nexus`), as Compose reads them.
const readYaml = (p: string) => parseYaml(readFileSync(join(root, p), 'utf8'), { merge: true });
const tmp = mkdtempSync(join(tmpdir(), 'charts-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Dict = Record<string, any>;

/** A key is secret when its last segment names a password, secret, token or key (not keyPrefix, not *Ttl). */
const isSecret = (path: string[]) => /(password|secret|token|key)$/i.test(path[path.length - 1]);

/** The one config key whose values entry is not under the service's section (the guide's containerPort). */
const ALIASES: Record<string, string[]> = { 'athena.port': ['containerPort'] };

const valuesPath = (leafPath: string[]) => ALIASES[leafPath.join('.')] ?? leafPath;

function has(obj: any, path: string[]): boolean {
  let o = obj;
  for (const p of path) {
    if (o === null || typeof o !== 'object' || !Object.hasOwn(o, p)) return false;
    o = o[p];
  }
  return true;
}

function at(obj: any, path: string[]): any {
  return path.reduce((o, p) => (o == null ? undefined : o[p]), obj);
}

function setAt(obj: Dict, path: string[], v: unknown): void {
  let o = obj;
  for (const p of path.slice(0, -1)) o = o[p] ??= {};
  o[path[path.length - 1]] = v;
}

/** Leaves of a values subtree: scalars, lists and empty maps. */
function valueLeaves(o: any, prefix: string[] = []): string[][] {
  if (o === null || typeof o !== 'object' || Array.isArray(o) || !Object.keys(o).length) return [prefix];
  return Object.entries(o).flatMap(([k, v]) => valueLeaves(v, [...prefix, k]));
}

function schemaAt(path: string[]): z.ZodTypeAny {
  let s: z.ZodTypeAny = configSchema;
  const unwrap = (x: z.ZodTypeAny): z.ZodTypeAny =>
    x instanceof z.ZodDefault || x instanceof z.ZodOptional ? unwrap(x._def.innerType) : x;
  for (const p of path) s = (unwrap(s) as z.ZodObject<any>).shape[p];
  return unwrap(s);
}

const serviceLeaves = (service: 'nexus' | 'athena') => configLeaves().filter((l) => l.path[0] === service);
const defaults = configSchema.parse({});

/** A distinct, valid, non-default value for every leaf, as values overrides plus what config must then hold. */
function distinctValues(service: 'nexus' | 'athena') {
  const overrides: Dict = {};
  const expected: Dict = {};
  for (const leaf of serviceLeaves(service)) {
    const key = leaf.path.join('.');
    const def = at(defaults, leaf.path);
    const schema = schemaAt(leaf.path);
    // Candidates in order; the first the key's own schema accepts (ranges, lengths) is used.
    const candidates: unknown[] =
      leaf.kind === 'boolean'
        ? [!def]
        : leaf.kind === 'number'
          ? [(def as number) + 1, (def as number) - 1, (def as number) * 2, (def as number) / 2]
          : leaf.kind === 'enum'
            ? (schema as z.ZodEnum<any>).options
            : [`/t/${key}`, `https://t.example.com/${key}`, `t-${key}-${'x'.repeat(64)}`];
    const v = candidates.find((c) => c !== def && schema.safeParse(c).success);
    expect(v, `a valid non-default value for ${key}`).toBeDefined();
    setAt(overrides, valuesPath(leaf.path), v);
    setAt(expected, leaf.path.slice(1), v);
  }
  return { overrides, expected };
}

function docOf(docs: Array<{ doc: any }>, kind: string, name?: string): any {
  const found = docs.filter((d) => d.doc.kind === kind && (!name || d.doc.metadata?.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0].doc;
}

/** The config the pod's process would load: the mounted ConfigMap file, the Secret and the container env. */
function podConfig(rendered: ReturnType<typeof renderChart>, service: 'nexus' | 'athena') {
  const dep = docOf(rendered.docs, 'Deployment');
  const container = dep.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env) if (typeof e.value === 'string') env[e.name] = e.value;
  const secretName = container.envFrom[0].secretRef.name;
  const secret = docOf(rendered.docs, 'Secret', secretName);
  const secretEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data as Record<string, string>)) {
    secretEnv[k] = Buffer.from(v, 'base64').toString('utf8');
  }
  // The file NEXUS_CONFIG names must be the ConfigMap's config.yaml, mounted where it says.
  const mount = container.volumeMounts.find((m: any) => env.NEXUS_CONFIG?.startsWith(`${m.mountPath}/`));
  expect(mount, 'NEXUS_CONFIG points into a mounted volume').toBeTruthy();
  const volume = dep.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
  const cm = docOf(rendered.docs, 'ConfigMap', volume.configMap.name);
  const fileName = env.NEXUS_CONFIG.slice(mount.mountPath.length + 1);
  expect(volume.configMap.items.find((i: any) => i.path === fileName).key).toBe('config.yaml');
  const file = join(tmp, `${service}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, cm.data['config.yaml']);
  const config = loadConfig({ file, env: { ...secretEnv, ...env } });
  return { config, configText: cm.data['config.yaml'] as string, secretEnv, env, container, dep };
}

// ---------------------------------------------------------------- the guide's parameter tables

const NIL = Symbol('nil');
const EMPTY = Symbol('empty');
const GUIDE_PATHS = ['/chat/v3/', '/nexus/v3/', '/ux/', '/admin/', '/auth/', '/health/'];
const securityDefaults: Array<[string, unknown]> = [
  ['podSecurityContext.runAsNonRoot', true],
  ['podSecurityContext.runAsUser', 500],
  ['podSecurityContext.runAsGroup', 500],
  ['podSecurityContext.fsGroup', 500],
];

const GUIDE: Record<'nexus' | 'athena', Array<[string, unknown]>> = {
  nexus: [
    ['global.imageRegistry', NIL],
    ['global.imagePullSecrets', EMPTY],
    ['global.storageClass', NIL],
    // The guide's default is "TBD": no registry until one is chosen.
    ['image.registry', NIL],
    ['image.repository', 'nexus/nexus'],
    ['image.pullPolicy', 'IfNotPresent'],
    ['imagePullSecrets', EMPTY],
    ['nameOverride', NIL],
    ['fullnameOverride', NIL],
    ['nexus.redirectProtocol', 'http://'],
    ['nexus.fqdn', NIL],
    ['nexus.redis.enabled', true],
    ['nexus.redis.nodes', 'redis://nexus-redis-master.default.svc.cluster.local:6379'],
    ['nexus.redis.useCluster', false],
    ['nexus.redis.enableTls', false],
    ['nexus.redis.password', ''],
    ['nexus.db.host', 'nexus-postgres-postgresql.default.svc.cluster.local'],
    ['nexus.db.port', 5432],
    ['nexus.db.user', 'nexus'],
    ['nexus.db.password', 'nexus'],
    ['nexus.db.enableSSL', false],
    ...securityDefaults,
    ['resources', { requests: { cpu: '300m', memory: '512Mi' } }],
    ['affinity', EMPTY],
    ['nodeSelector', EMPTY],
    ['tolerations', EMPTY],
    ['priorityClassName', ''],
    ['monitoring.enabled', false],
    ['service.type', 'LoadBalancer'],
    ['service.port', 80],
    ['service.httpsPort', 443],
    ['service.nodePorts.http', ''],
    ['service.nodePorts.https', ''],
    ['service.externalTrafficPolicy', 'Cluster'],
    ['service.loadBalancerIP', ''],
    ['ingress.enabled', false],
    ['ingress.annotations', EMPTY],
    ['ingress.certManager', false],
    ['ingress.hosts.0.name', 'nexus.local'],
    ['ingress.hosts.0.tls', false],
    ['ingress.hosts.0.tlsHosts', NIL],
    ['ingress.hosts.0.tlsSecret', 'nexus.local-tls-secret'],
    ['ingress.secrets', EMPTY],
    ['podAnnotations', EMPTY],
  ],
  athena: [
    ['version', NIL],
    ['nameOverride', NIL],
    ['fullnameOverride', NIL],
    ['image.registry', NIL],
    ['image.repository', 'nexus/athena'],
    ['image.pullPolicy', 'IfNotPresent'],
    ['image.pullSecrets', EMPTY],
    ['serviceAccount.create', false],
    ['serviceAccount.name', ''],
    ['serviceAccount.annotations', EMPTY],
    ['podAnnotations', EMPTY],
    ...securityDefaults,
    ['configChecksum', true],
    ['secretChecksum', true],
    ['containerPort', 4084],
    ['service.enabled', true],
    ['service.type', 'ClusterIP'],
    ['service.annotations', EMPTY],
    ['service.port', 80],
    ['ingress.enabled', false],
    ['ingress.annotations', EMPTY],
    ['ingress.hosts.0.host', 'athena.local'],
    ['ingress.hosts.0.paths', EMPTY],
    ['ingress.tls', EMPTY],
    ['resources', EMPTY],
    ['nodeSelector', EMPTY],
    ['tolerations', EMPTY],
    ['affinity', EMPTY],
    ['priorityClassName', ''],
    ['monitoring.enabled', false],
    ['athena.server.apiPrefix', '/athena/v1,/nexus/v3'],
    ['athena.nexus.url', 'http://nexus-production.nexus.svc.cluster.local'],
    ['athena.nexus.apiPrefix', '/nexus/v3'],
    ['athena.nexus.apiKey', ''],
    ['athena.nexus.timeout', 10000],
    ['athena.db.host', 'postgres'],
    ['athena.db.port', 5432],
    ['athena.db.user', 'nexus'],
    ['athena.db.password', ''],
    ['athena.db.database', 'nexus'],
    ['athena.db.ssl', false],
    ['athena.redis.nodes', 'redis://redis:6379'],
    ['athena.redis.password', ''],
    ['athena.redis.cluster', false],
    ['athena.redis.tls', false],
    ['athena.google.speechApiKey', ''],
  ],
};

describe.each(['nexus', 'athena'] as const)('charts/%s values', (service) => {
  const values = readYaml(`charts/${service}/values.yaml`);

  it("carries every parameter of the guide's table with its default", () => {
    for (const [key, def] of GUIDE[service]) {
      const path = key.split('.');
      expect(has(values, path), `${key} is in values.yaml`).toBe(true);
      const v = at(values, path);
      if (def === NIL) expect(v === null || v === '', `${key} is nil`).toBe(true);
      else if (def === EMPTY) {
        expect(typeof v === 'object' && v !== null && Object.keys(v).length === 0, `${key} is empty`).toBe(
          true,
        );
      } else expect(v, key).toEqual(def);
    }
  });

  it('has a values entry for every config key the code reads, and nothing else under its section', () => {
    const leaves = serviceLeaves(service);
    expect(leaves.length).toBeGreaterThan(5);
    for (const leaf of leaves) {
      expect(has(values, valuesPath(leaf.path)), `${leaf.path.join('.')} has a values entry`).toBe(true);
    }
    const known = new Set(leaves.map((l) => l.path.join('.')));
    for (const p of valueLeaves(values[service], [service])) {
      expect(known.has(p.join('.')), `values key ${p.join('.')} is a config key`).toBe(true);
    }
  });

  it('renders every config key into the ConfigMap or the Secret, and the process loads them as set', () => {
    const { overrides, expected } = distinctValues(service);
    const rendered = renderChart(chartDir(service), { values: overrides });
    const { config, configText, secretEnv, env } = podConfig(rendered, service);
    expect(config[service]).toEqual(expected);
    const envNames = new Set(configLeaves().map((l) => l.env));
    for (const leaf of serviceLeaves(service)) {
      const v = String(at(expected, leaf.path.slice(1)));
      if (isSecret(leaf.path)) {
        // Secrets reach the process as env from the Secret, never through the ConfigMap.
        expect(secretEnv[leaf.env], `${leaf.env} is in the Secret`).toBe(v);
        expect(configText.includes(v), `${leaf.path.join('.')} is not in the ConfigMap`).toBe(false);
      }
    }
    // Every name the chart hands the process is a real config key's env form.
    for (const name of [...Object.keys(secretEnv), ...Object.keys(env)]) {
      expect(name === 'NEXUS_CONFIG' || envNames.has(name), `${name} is a config env name`).toBe(true);
    }
  });

  it('renders with the defaults into manifests that parse, with the default config', () => {
    const rendered = renderChart(chartDir(service));
    const kinds = rendered.docs.map((d) => d.doc.kind).sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'Deployment',
      'Secret',
      'Service',
      ...(service === 'nexus' ? ['Service'] : []),
    ]);
    for (const { doc } of rendered.docs) {
      expect(doc.apiVersion).toBeTruthy();
      expect(doc.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    const { config } = podConfig(rendered, service);
    const vals = rendered.values[service] as Dict;
    for (const leaf of serviceLeaves(service)) {
      if (isSecret(leaf.path) && !at(vals, leaf.path.slice(1))) continue; // generated, checked below
      const want =
        leaf.path.join('.') === 'athena.port' ? rendered.values.containerPort : at(vals, leaf.path.slice(1));
      expect(at(config[service], leaf.path.slice(1)), leaf.path.join('.')).toEqual(
        want ?? at(defaults, leaf.path),
      );
    }
  });
});

// ---------------------------------------------------------------- nexus chart behaviour

describe('charts/nexus templates', () => {
  const render = (values: Dict = {}, opts: Parameters<typeof renderChart>[1] = {}) =>
    renderChart(chartDir('nexus'), { ...opts, values });

  it('runs as 500:500 non-root with liveness, readiness and the metrics port 4004', () => {
    const dep = docOf(render().docs, 'Deployment');
    const pod = dep.spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 500,
      runAsGroup: 500,
      fsGroup: 500,
    });
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 4004, protocol: 'TCP' },
    ]);
    expect(c.args).toEqual(['node', 'dist/src/bin/nexus.js']);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    // The writable data dir is a volume, since the root filesystem is read-only.
    expect(c.volumeMounts.map((m: any) => m.mountPath)).toContain('/var/lib/nexus');
    expect(dep.spec.template.spec.volumes.find((v: any) => v.name === 'data').emptyDir).toEqual({});
    expect(c.resources).toEqual({ requests: { cpu: '300m', memory: '512Mi' } });
  });

  it('generates the admin token, secrets key and token key once and keeps them from the live Secret', () => {
    const first = podConfig(render(), 'nexus').secretEnv;
    expect(first.NEXUS_ADMIN_TOKEN.length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(first.NEXUS_SECRETS_KEY, 'base64')).toHaveLength(32);
    expect(first.NEXUS_CHAT_TOKEN_KEY.length).toBeGreaterThanOrEqual(32);
    const live = {
      data: Object.fromEntries(Object.entries(first).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    const lookups: string[][] = [];
    const upgrade = podConfig(
      render(
        {},
        {
          release: { isUpgrade: true },
          lookup: (...args) => {
            lookups.push(args);
            return args[1] === 'Secret' && args[3] === 'nexus' ? live : undefined;
          },
        },
      ),
      'nexus',
    ).secretEnv;
    expect(lookups).toContainEqual(['v1', 'Secret', 'default', 'nexus']);
    expect(upgrade.NEXUS_ADMIN_TOKEN).toBe(first.NEXUS_ADMIN_TOKEN);
    expect(upgrade.NEXUS_SECRETS_KEY).toBe(first.NEXUS_SECRETS_KEY);
    expect(upgrade.NEXUS_CHAT_TOKEN_KEY).toBe(first.NEXUS_CHAT_TOKEN_KEY);
    // A value set explicitly wins over the live one.
    const set = podConfig(
      render({ nexus: { adminToken: 'explicit-admin-token-0123456789abcdef' } }, { lookup: () => live }),
      'nexus',
    );
    expect(set.config.nexus.adminToken).toBe('explicit-admin-token-0123456789abcdef');
  });

  it('rolls the pods when the config or a secret changes (checksum annotations)', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const base = {
      nexus: { secretsKey: key, adminToken: 'a'.repeat(32), chat: { tokenKey: 'k'.repeat(32) } },
    };
    const ann = (v: Dict) => docOf(render(v).docs, 'Deployment').spec.template.metadata.annotations;
    const a = ann(base);
    expect(a['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    expect(a['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);
    expect(ann(base)).toEqual(a);
    const logChanged = ann({ nexus: { ...base.nexus, logLevel: 'debug' } });
    expect(logChanged['checksum/config']).not.toBe(a['checksum/config']);
    expect(logChanged['checksum/secret']).toBe(a['checksum/secret']);
    const pwChanged = ann({ nexus: { ...base.nexus, db: { password: 'other' } } });
    expect(pwChanged['checksum/secret']).not.toBe(a['checksum/secret']);
    expect(pwChanged['checksum/config']).toBe(a['checksum/config']);
    // A Secret and ConfigMap managed outside the chart are neither rendered nor checksummed.
    const ext = render({ existingSecret: 'mine', existingConfig: 'mine-cfg' });
    expect(ext.docs.filter((d) => d.doc.kind === 'Secret' || d.doc.kind === 'ConfigMap')).toEqual([]);
    const dep = docOf(ext.docs, 'Deployment');
    expect(dep.spec.template.metadata.annotations ?? {}).toEqual({});
    expect(dep.spec.template.spec.containers[0].envFrom[0].secretRef.name).toBe('mine');
    expect(dep.spec.template.spec.volumes[0].configMap.name).toBe('mine-cfg');
  });

  it('scales out only with Redis and PostgreSQL configured', () => {
    expect(docOf(render({ replicaCount: 3 }).docs, 'Deployment').spec.replicas).toBe(3);
    expect(() => render({ replicaCount: 3, nexus: { redis: { nodes: '' } } })).toThrow(/nexus.redis.nodes/);
    expect(() => render({ replicaCount: 2, nexus: { redis: { enabled: false } } })).toThrow(
      /nexus.redis.enabled/,
    );
    expect(() => render({ replicaCount: 2, nexus: { db: { host: '' } } })).toThrow(/nexus.db.host/);
    expect(
      docOf(render({ replicaCount: 1, nexus: { db: { host: '' } } }).docs, 'Deployment').spec.replicas,
    ).toBe(1);
  });

  it("serves the guide's ingress paths with TLS, and the Service's ports and node ports", () => {
    const r = render({
      ingress: {
        enabled: true,
        certManager: true,
        hosts: [
          {
            name: 'digital.example.com',
            tls: true,
            paths: GUIDE_PATHS.map((path) => ({ path, port: 'http' })),
          },
        ],
      },
      service: { type: 'NodePort', nodePorts: { http: 30080, https: 30443 } },
    });
    const ing = docOf(r.docs, 'Ingress');
    expect(ing.spec.tls).toEqual([
      { hosts: ['digital.example.com'], secretName: 'digital.example.com-tls-secret' },
    ]);
    expect(ing.metadata.annotations['kubernetes.io/tls-acme']).toBe('true');
    const rule = ing.spec.rules[0];
    expect(rule.host).toBe('digital.example.com');
    expect(rule.http.paths.map((p: any) => p.path)).toEqual(GUIDE_PATHS);
    const svc = docOf(r.docs, 'Service', 'nexus');
    for (const p of rule.http.paths)
      expect(svc.spec.ports.map((x: any) => x.name)).toContain(p.backend.service.port.name);
    expect(svc.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      { name: 'https', port: 443, targetPort: 'http', protocol: 'TCP', nodePort: 30443 },
    ]);
    // The default values already hold the guide's paths.
    const def = docOf(render({ ingress: { enabled: true } }).docs, 'Ingress');
    expect(def.spec.rules[0].http.paths.map((p: any) => p.path)).toEqual(GUIDE_PATHS);
    expect(def.spec.rules[0].host).toBe('nexus.local');
    // The guide's example form (hosts[].host, a tls list) and TLS secrets from values.
    const ex = render({
      ingress: {
        enabled: true,
        hosts: [{ host: 'digital.example.org', paths: [{ path: '/chat/v3/', port: 'http' }] }],
        tls: [{ hosts: ['digital.example.org'], secretName: 'letsencrypt' }],
        secrets: [{ name: 'my-tls', certificate: 'CERT', key: 'KEY' }],
      },
      service: { type: 'LoadBalancer', loadBalancerIP: '10.0.0.9', externalTrafficPolicy: 'Local' },
    });
    expect(docOf(ex.docs, 'Ingress').spec.rules[0].host).toBe('digital.example.org');
    expect(docOf(ex.docs, 'Ingress').spec.tls).toEqual([
      { hosts: ['digital.example.org'], secretName: 'letsencrypt' },
    ]);
    const tlsSecret = docOf(ex.docs, 'Secret', 'my-tls');
    expect(tlsSecret.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(tlsSecret.data['tls.crt'], 'base64').toString()).toBe('CERT');
    const lb = docOf(ex.docs, 'Service', 'nexus');
    expect(lb.spec.loadBalancerIP).toBe('10.0.0.9');
    expect(lb.spec.externalTrafficPolicy).toBe('Local');
  });

  it('places pods as told: image, pull secrets, affinity, node selector, tolerations, priority, annotations', () => {
    const r = render({
      global: { imageRegistry: 'registry.example.com', imagePullSecrets: [{ name: 'global-cred' }] },
      image: { registry: 'ignored.example.com', tag: '1.2.3' },
      imagePullSecrets: ['mycred'],
      affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'dedicated', operator: 'Exists' }],
      priorityClassName: 'high',
      podAnnotations: { 'example.com/team': 'chat' },
      fullnameOverride: 'digital',
    });
    const dep = docOf(r.docs, 'Deployment', 'digital');
    const pod = dep.spec.template.spec;
    expect(pod.containers[0].image).toBe('registry.example.com/nexus/nexus:1.2.3');
    expect(pod.imagePullSecrets).toEqual([{ name: 'global-cred' }, { name: 'mycred' }]);
    expect(pod.affinity).toEqual({
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] },
    });
    expect(pod.nodeSelector).toEqual({ disk: 'ssd' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
    expect(pod.priorityClassName).toBe('high');
    expect(dep.spec.template.metadata.annotations['example.com/team']).toBe('chat');
    expect(
      docOf(render({ version: '9.9.9' }).docs, 'Deployment').spec.template.spec.containers[0].image,
    ).toBe('nexus/nexus:9.9.9');
    expect(docOf(render({ nameOverride: 'dc' }).docs, 'Deployment').metadata.name).toBe('nexus-dc');
  });

  it("monitors with a ServiceMonitor on port 4004 and the guide's two alerts when monitoring is enabled", () => {
    const off = render();
    expect(off.docs.filter((d) => ['ServiceMonitor', 'PrometheusRule'].includes(d.doc.kind))).toEqual([]);
    const r = render({ monitoring: { enabled: true, labels: { release: 'prom' } } });
    const sm = docOf(r.docs, 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    expect(sm.metadata.labels.release).toBe('prom');
    // The ServiceMonitor selects the metrics Service, which exposes 4004 and selects the pods.
    const metricsSvc = docOf(r.docs, 'Service', 'nexus-metrics');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      expect(metricsSvc.metadata.labels[k]).toBe(v);
    expect(metricsSvc.spec.ports).toEqual([
      { name: 'metrics', port: 4004, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    const dep = docOf(r.docs, 'Deployment');
    for (const [k, v] of Object.entries(metricsSvc.spec.selector))
      expect(dep.spec.template.metadata.labels[k]).toBe(v);
    expect(dep.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '4004',
      'prometheus.io/path': '/metrics',
    });
    const rule = docOf(r.docs, 'PrometheusRule');
    const rules = rule.spec.groups.flatMap((g: any) => g.rules);
    expect(rules.map((x: any) => x.alert)).toEqual(['NexusErrorRate', 'NexusMemoryUsage']);
    const [errors, memory] = rules;
    expect(errors.expr).toMatch(
      /rate\(nexus_errors_total\{[^}]*\}\[5m\]\)\)\s*\/\s*sum by \(namespace, pod\) \(rate\(nexus_request_total/,
    );
    expect(errors.expr).toMatch(/> 0\.2\s*$/);
    expect(errors.for).toBe('15m');
    expect(memory.expr).toMatch(/^nexus_process_resident_memory_bytes\{[^}]*\} > 3000 \* 1024 \* 1024$/);
    expect(memory.for).toBe('15m');
    for (const x of rules) {
      expect(x.labels.severity).toBe('critical');
      expect(x.expr).toContain('service="nexus-metrics"');
      // Prometheus' own template syntax survives the chart's.
      expect(x.annotations.description).toContain('{{ $labels.pod }}');
    }
    expect(
      render({ monitoring: { enabled: true, alarms: false } }).docs.map((d) => d.doc.kind),
    ).not.toContain('PrometheusRule');
  });

  it('ships the Grafana dashboard as a ConfigMap when asked', () => {
    const r = render({ monitoring: { grafanaDashboard: true } });
    const cm = docOf(r.docs, 'ConfigMap', 'nexus-dashboards');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['nexus.json'])).toEqual(
      JSON.parse(readFileSync(join(chartDir('nexus'), 'dashboards/nexus.json'), 'utf8')),
    );
  });

  it('runs `nexus migrate` as a pre-install/pre-upgrade Job only when migrations.job is set', () => {
    expect(render().docs.map((d) => d.doc.kind)).not.toContain('Job');
    const r = render({
      migrations: { job: true },
      nexus: { db: { host: 'pg.example', password: 'pw', enableSSL: true } },
    });
    const job = docOf(r.docs, 'Job');
    expect(job.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const c = job.spec.template.spec.containers[0];
    expect(c.args).toEqual(['node', 'dist/src/bin/nexus.js', 'migrate']);
    expect(job.spec.template.spec.securityContext.runAsUser).toBe(500);
    // The hook runs before the release's ConfigMap and Secret exist: its settings are env, its password a hook Secret.
    const hookSecret = docOf(r.docs, 'Secret', 'nexus-migrate');
    expect(Number(hookSecret.metadata.annotations['helm.sh/hook-weight'])).toBeLessThan(
      Number(job.metadata.annotations['helm.sh/hook-weight']),
    );
    const env: Record<string, string> = {};
    const envNames = new Set(configLeaves().map((l) => l.env));
    for (const e of c.env) {
      expect(envNames.has(e.name), `${e.name} is a config env name`).toBe(true);
      if (e.valueFrom) {
        expect(e.valueFrom.secretKeyRef.name).toBe('nexus-migrate');
        env[e.name] = Buffer.from(hookSecret.data[e.valueFrom.secretKeyRef.key], 'base64').toString();
      } else env[e.name] = e.value;
    }
    const cfg = loadConfig({ env });
    expect(cfg.nexus.db).toMatchObject({
      host: 'pg.example',
      password: 'pw',
      enableSSL: true,
      port: 5432,
      user: 'nexus',
    });
    // The Job's pods are not selected by the Services.
    const svc = docOf(r.docs, 'Service', 'nexus');
    const labels = job.spec.template.metadata.labels;
    expect(Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v)).toBe(false);
  });

  it("accepts the guide's example values file as written", () => {
    // The guide's example: hosts[].host, a tls list, db.enableSsl, keys this gateway does not have.
    const example = {
      deploymentType: 'Deployment',
      replicaCount: 1,
      image: { registry: 'registry.example.com', repository: 'nexus/nexus', pullPolicy: 'IfNotPresent' },
      imagePullSecrets: ['mycred'],
      nexus: {
        fqdn: 'http://digital.example.com',
        redirectProtocol: 'http://',
        redis: {
          enabled: true,
          nodes: 'redis://redis:6379',
          useCluster: true,
          enableTls: false,
          password: 'rp',
        },
        db: { host: 'pg', port: 5432, user: 'nexus', password: 'dbp', enableSsl: true },
        social: { apikey: '', retryTimeout: 10000 },
      },
      service: { enabled: true, type: 'ClusterIP' },
      ingress: {
        tls: [{ hosts: ['digital.example.com'], secretName: 'letsencrypt' }],
        enabled: true,
        hosts: [
          {
            host: 'digital.example.com',
            paths: GUIDE_PATHS.slice(0, 5).map((path) => ({ path, port: 'http' })),
          },
        ],
      },
      monitoring: { enabled: true, alarms: true },
    };
    const r = render(example);
    const { config } = podConfig(r, 'nexus');
    expect(config.nexus.db).toMatchObject({ host: 'pg', password: 'dbp', enableSSL: true });
    expect(config.nexus.redis).toMatchObject({
      nodes: 'redis://redis:6379',
      useCluster: true,
      password: 'rp',
    });
    expect(docOf(r.docs, 'Ingress').spec.rules[0].host).toBe('digital.example.com');
    expect(r.docs.map((d) => d.doc.kind)).toContain('PrometheusRule');
  });

  it('prints install notes without errors', () => {
    const notes = render().files.get('nexus/templates/NOTES.txt')!;
    expect(notes).toContain('/health/detail');
    expect(notes).toContain('NEXUS_SECRETS_KEY');
  });
});

// ---------------------------------------------------------------- athena chart behaviour

describe('charts/athena templates', () => {
  const render = (values: Dict = {}) =>
    renderChart(chartDir('athena'), { values, release: { name: 'athena' } });

  it('runs the athena entry point as 500:500 on containerPort with probes', () => {
    const dep = docOf(render({ containerPort: 5084 }).docs, 'Deployment');
    const pod = dep.spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 500,
      runAsGroup: 500,
      fsGroup: 500,
    });
    const c = pod.containers[0];
    expect(c.args).toEqual(['node', 'dist/src/bin/athena.js']);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 5084, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(pod.serviceAccountName).toBe('default');
    expect(pod.dnsConfig).toEqual({ options: [{ name: 'ndots', value: '3' }] });
  });

  it('honours configChecksum and secretChecksum', () => {
    const ann = (v: Dict) => docOf(render(v).docs, 'Deployment').spec.template.metadata.annotations ?? {};
    expect(Object.keys(ann({}))).toEqual(['checksum/config', 'checksum/secret']);
    expect(Object.keys(ann({ configChecksum: false }))).toEqual(['checksum/secret']);
    expect(Object.keys(ann({ secretChecksum: false, podAnnotations: { a: 'b' } }))).toEqual([
      'checksum/config',
      'a',
    ]);
    expect(ann({ athena: { nexus: { apiKey: 'k1' } } })['checksum/secret']).not.toBe(
      ann({ athena: { nexus: { apiKey: 'k2' } } })['checksum/secret'],
    );
  });

  it('creates the ServiceAccount, ingress with TLS, and ServiceMonitor when asked', () => {
    const r = render({
      serviceAccount: { create: true, annotations: { 'iam.gke.io/gcp-service-account': 'bots@p.iam' } },
      ingress: {
        enabled: true,
        hosts: [{ host: 'athena.example.com', paths: ['/athena/v1/', { path: '/nexus/v3/' }] }],
        tls: [{ secretName: 'athena-tls', hosts: ['athena.example.com'] }],
      },
      monitoring: { enabled: true },
      image: { pullSecrets: [{ name: 'jfrog' }, { name: null }] },
    });
    const sa = docOf(r.docs, 'ServiceAccount');
    expect(sa.metadata.name).toBe('athena');
    expect(sa.metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': 'bots@p.iam' });
    const pod = docOf(r.docs, 'Deployment').spec.template.spec;
    expect(pod.serviceAccountName).toBe('athena');
    expect(pod.imagePullSecrets).toEqual([{ name: 'jfrog' }]);
    const ing = docOf(r.docs, 'Ingress');
    expect(ing.spec.rules[0].http.paths.map((p: any) => p.path)).toEqual(['/athena/v1/', '/nexus/v3/']);
    expect(ing.spec.tls).toEqual([{ secretName: 'athena-tls', hosts: ['athena.example.com'] }]);
    expect(docOf(r.docs, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({
      port: 'http',
      path: '/metrics',
    });
    // No paths: the whole host.
    const all = docOf(render({ ingress: { enabled: true } }).docs, 'Ingress');
    expect(all.spec.rules[0]).toMatchObject({ host: 'athena.local' });
    expect(all.spec.rules[0].http.paths.map((p: any) => p.path)).toEqual(['/']);
  });
});

// ---------------------------------------------------------------- the renderer's Go semantics

describe('scripts/charts-render (Go template subset)', () => {
  const run = (src: string, values: Dict = {}) => {
    const dir = mkdtempSync(join(tmp, 'chart-'));
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 0.0.1\nappVersion: "1"\n');
    writeFileSync(join(dir, 'values.yaml'), '{}\n');
    writeFileSync(join(dir, 'templates', 'NOTES.txt'), src);
    return renderChart(dir, { values }).files.get('t/templates/NOTES.txt');
  };

  it('trims, scopes variables, ranges over sorted maps and prints values like Go', () => {
    expect(run('a  {{- " b " -}}  c')).toBe('a b c');
    expect(run('{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}')).toBe('2');
    expect(run('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe(
      'a=1;b=2;',
    );
    // Values are float64 in Helm: a large number prints in exponent form unless it goes through int or toJson.
    expect(run('{{ .Values.n }} {{ .Values.n | int }} {{ .Values.n | toJson }}', { n: 1048576 })).toBe(
      '1.048576e+06 1048576 1048576',
    );
    expect(run('{{ with .Values.x }}{{ . }}{{ else }}none{{ end }}', { x: '' })).toBe('none');
    expect(run('{{ if and .Values.a .Values.a.b }}y{{ else }}n{{ end }}', {})).toBe('n');
    expect(run('{{ `{{ $labels.pod }}` }}')).toBe('{{ $labels.pod }}');
    expect(run('{{ (dict "a" 1).a }}')).toBe('1');
  });

  it('fails as Helm does: nil field, unknown function, int/float comparison, required', () => {
    expect(() => run('{{ .Values.a.b }}')).toThrow(/nil pointer evaluating interface \{\}\.b/);
    expect(() => parseTemplate('{{ nosuch 1 }}', 'x')).toThrow(TemplateError);
    expect(() => run('{{ if gt .Values.n 1 }}{{ end }}', { n: 2 })).toThrow(/incompatible types/);
    expect(() => run('{{ required "need x" .Values.x }}')).toThrow(/need x/);
    expect(() => run('{{ if true }}')).toThrow(/unclosed if/);
  });
});

// ---------------------------------------------------------------- dashboard, image, compose

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(join(chartDir('nexus'), 'dashboards/nexus.json'), 'utf8'));
  const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
  const metrics = new Set(exprs.flatMap((e) => e.match(/\bnexus_[a-z_]+/g) ?? []));

  it('charts connections, messages, latency, outbox lag, errors, HTTP, Redis and the database', () => {
    for (const m of [
      'nexus_chat_sockets',
      'nexus_chat_messages_total',
      'nexus_chat_commit_duration_milliseconds_bucket',
      'nexus_outbox_pending',
      'nexus_outbox_lag_seconds_bucket',
      'nexus_errors_total',
      'nexus_request_total',
      'nexus_redis_connections_reconnecting',
      'nexus_db_errors_total',
      'nexus_process_resident_memory_bytes',
    ]) {
      expect(metrics.has(m), m).toBe(true);
    }
    // The checked-in JSON is what the generator writes.
    const regenerated = join(tmp, 'dashboard.json');
    execFileSync(process.execPath, [join(root, 'scripts/charts-dashboard.mjs'), regenerated]);
    expect(readFileSync(regenerated, 'utf8'), 'run: node scripts/charts-dashboard.mjs').toBe(
      readFileSync(join(chartDir('nexus'), 'dashboards/nexus.json'), 'utf8'),
    );
    const ids = dash.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dash.panels.filter((x: any) => x.type !== 'row')) {
      expect(p.datasource.uid).toBe('${datasource}');
      for (const t of p.targets) expect(t.expr).toContain('namespace=~"$namespace", pod=~"$pod"');
    }
  });
});

// The dashboard's queries only mean something if a gateway exposes those names: scrape a real one.
describe.each(engines())('Grafana dashboard against a running gateway (%s)', (engine) => {
  it('queries only metrics the gateway exposes on its metrics port', async () => {
    const dash = JSON.parse(readFileSync(join(chartDir('nexus'), 'dashboards/nexus.json'), 'utf8'));
    const wanted = new Set<string>(
      dash.panels
        .flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr))
        .flatMap((e: string) => e.match(/\bnexus_[a-z_]+/g) ?? [])
        .map((m: string) => m.replace(/_bucket$/, '')),
    );
    expect(wanted.size).toBeGreaterThan(15);
    const t = await startNexus({ engine });
    try {
      const text = await (await fetch(`http://127.0.0.1:${t.nexus.metricsPort}/metrics`)).text();
      const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
      expect(exposed.has('nexus_request_total')).toBe(true);
      // The in-process state has no Redis connections to count.
      const missing = [...wanted].filter(
        (m) => !exposed.has(m) && !(engine === 'embedded' && m.startsWith('nexus_redis_')),
      );
      expect(missing).toEqual([]);
    } finally {
      await t.close();
      await t.cleanup();
    }
  });
});

describe('Dockerfile and docker-compose.yml', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('builds in stages, runs production deps as 500:500, exposes the ports and checks health', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const runtimeAt = lines.lastIndexOf(froms[froms.length - 1]);
    const build = lines.slice(0, runtimeAt);
    const runtime = lines.slice(runtimeAt);
    expect(build.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
    expect(build.some((l) => /npm run build/.test(l))).toBe(true);
    expect(runtime.some((l) => /^RUN npm ci\b.*--omit=dev/.test(l))).toBe(true);
    expect(runtime.some((l) => /^COPY --from=\S+ \/app\/dist /.test(l))).toBe(true);
    expect(runtime.some((l) => /^COPY --from=\S+ \/app\/migrations /.test(l))).toBe(true);
    expect(runtime.filter((l) => l.startsWith('USER '))).toEqual(['USER 500:500']);
    const exposed = runtime.filter((l) => l.startsWith('EXPOSE ')).flatMap((l) => l.split(/\s+/).slice(1));
    expect(exposed.sort()).toEqual(['4004', '4084', '8080']);
    expect(runtime.some((l) => /^HEALTHCHECK .*CMD .*\/health\/live|HEALTHCHECK_URL/.test(l))).toBe(true);
    const cmd = JSON.parse(runtime.find((l) => l.startsWith('CMD '))!.slice(4));
    expect(cmd).toEqual(['node', pkg.bin.nexus]);
    // Both entry points exist as sources of the bins.
    for (const bin of ['nexus', 'athena']) {
      expect(pkg.bin[bin]).toBe(`dist/src/bin/${bin}.js`);
      expect(readFileSync(join(root, `src/bin/${bin}.ts`), 'utf8').length).toBeGreaterThan(0);
    }
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });

  it('composes two gateway nodes on different host ports, athena, Redis and PostgreSQL', () => {
    const compose = readYaml('docker-compose.yml');
    const svc = compose.services;
    expect(Object.keys(svc).sort()).toEqual(['athena', 'nexus-1', 'nexus-2', 'postgres', 'redis']);
    const hostPort = (s: any) => s.ports.map((p: string) => p.split(':')[0]);
    expect(hostPort(svc['nexus-1'])).not.toEqual(hostPort(svc['nexus-2']));
    expect(
      new Set([...hostPort(svc['nexus-1']), ...hostPort(svc['nexus-2']), ...hostPort(svc.athena)]).size,
    ).toBe(5);
    const envNames = new Set(configLeaves().map((l) => l.env));
    for (const name of ['nexus-1', 'nexus-2', 'athena']) {
      for (const k of Object.keys(svc[name].environment)) {
        expect(envNames.has(k) || k === 'HEALTHCHECK_URL', `${name}: ${k} is a config env name`).toBe(true);
      }
    }
    // Several nodes need shared Redis and PostgreSQL, and one set of generated keys.
    for (const name of ['nexus-1', 'nexus-2']) {
      expect(svc[name].environment.NEXUS_REDIS_NODES).toBe('redis://redis:6379');
      expect(svc[name].environment.NEXUS_DB_HOST).toBe('postgres');
      expect(svc[name].volumes).toEqual(['nexus-data:/app/data']);
    }
    expect(svc.athena.command).toEqual(['node', pkg.bin.athena]);
    expect(svc.athena.environment.HEALTHCHECK_URL).toContain(':4084/');
    expect(envName(['athena', 'nexus', 'apiKey'])).toBe('ATHENA_NEXUS_API_KEY');
  });
});

// The athena chart's ServiceMonitor scrapes /metrics on the connector's own port.
describe.each(engines())('athena serves what its chart probes and scrapes (%s)', (engine) => {
  it('answers /health/live, /health/ready and /metrics on its port', async () => {
    const real = engine === 'real' ? realEngines()! : undefined;
    const config = athenaSchema.parse({
      port: 0,
      host: '127.0.0.1',
      ...(real
        ? {
            redis: { nodes: real.redis },
            db: {
              host: real.pg.host,
              port: real.pg.port,
              user: real.pg.user,
              password: real.pg.password,
              database: 'postgres',
            },
          }
        : {}),
    });
    const athena = createAthena(config, createLogger({ level: 'silent' }));
    await athena.start();
    try {
      expect((await fetch(`${athena.url}/health/live`)).status).toBe(200);
      expect((await fetch(`${athena.url}/health/ready`)).status).toBe(200);
      const res = await fetch(`${athena.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      expect(await res.text()).toMatch(/^athena_process_resident_memory_bytes /m);
    } finally {
      await athena.close();
    }
  });
});

describe('Chart metadata', () => {
  it('versions the charts with the package', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    for (const name of ['nexus', 'athena']) {
      const chart = readYaml(`charts/${name}/Chart.yaml`);
      expect(chart).toMatchObject({ apiVersion: 'v2', name, appVersion: pkg.version });
    }
  });
});
