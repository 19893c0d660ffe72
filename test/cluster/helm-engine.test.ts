/**
 * The charts rendered by two engines must agree: our TypeScript renderer (scripts/charts-render.ts,
 * which every chart test uses) and Go's own text/template with the Sprig library, set up as Helm 3
 * sets them up (test/helm-engine/main.go, built here from Debian's golang-go,
 * golang-github-masterminds-sprig-dev and golang-gopkg-yaml.v2-dev; no helm binary can be
 * installed). For several value sets of each chart, every rendered file must parse to the same YAML
 * documents (NOTES.txt: the same text), so a template that real Helm would render differently, or
 * refuse, does not pass unnoticed. One check shows the comparison can fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderChart } from '../../scripts/charts-render.js';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'nexus-helm-engine-'));
const binary = join(dir, 'helm-engine');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function goAvailable(): boolean {
  const ok = spawnSync('go', ['version']).status === 0;
  if (!ok && process.env.CI === 'true')
    throw new Error('CI must install golang-go and the Sprig and yaml.v2 packages (see .ci/run)');
  return ok;
}

beforeAll(() => {
  if (!goAvailable()) return;
  // GOPATH mode over Debian's Go source packages: offline, no module download.
  const r = spawnSync('go', ['build', '-o', binary, './test/helm-engine/'], {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: '/usr/share/gocode',
      GOCACHE: join(dir, 'cache'),
      GOFLAGS: '',
    },
  });
  if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
}, 120_000);

type Values = Record<string, unknown>;

function goRender(chart: string, values: Values, release: string, namespace: string): Map<string, string> {
  const file = join(dir, 'values.json');
  writeFileSync(file, JSON.stringify(values));
  const r = spawnSync(binary, [join(root, 'charts', chart), file, release, namespace], { encoding: 'utf8' });
  const out = JSON.parse(r.stdout || '{}');
  if (r.status !== 0 || out.error)
    throw new Error(`the Go engine refused ${chart}: ${out.error ?? r.stderr}`);
  return new Map(Object.entries(out.files as Record<string, string>));
}

function tsRender(chart: string, values: Values, release: string, namespace: string): Map<string, string> {
  return renderChart(join(root, 'charts', chart), { values, release: { name: release, namespace } }).files;
}

/** A file's meaning: its non-empty YAML documents, or its text for NOTES.txt. */
function meaning(name: string, text: string): unknown {
  if (name.endsWith('.txt')) return text.trim();
  return parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter((d) => d !== null && d !== undefined);
}

/** The files on which the two engines differ, with both renderings. */
function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.has(name) ? meaning(name, a.get(name)!) : '(no file)';
    const y = b.has(name) ? meaning(name, b.get(name)!) : '(no file)';
    if (JSON.stringify(x) !== JSON.stringify(y))
      out.push(`${name}\n--- TypeScript\n${a.get(name)}\n--- Go text/template + Sprig\n${b.get(name)}`);
  }
  return out;
}

// Secrets the chart would otherwise generate at random (a different value on each render).
const secrets = {
  nexus: {
    adminToken: 'admin-token-0123456789',
    secretsKey: 'k'.repeat(32),
    chat: { tokenKey: 't'.repeat(40) },
  },
};

const CASES: Array<{ chart: string; name: string; values: Values; release?: string }> = [
  { chart: 'nexus', name: 'defaults', values: secrets },
  {
    chart: 'nexus',
    name: 'scaled out with monitoring, scheduling and extras',
    values: {
      ...secrets,
      replicaCount: 3,
      version: '1.2.3',
      global: { imageRegistry: 'registry.example.com', imagePullSecrets: ['pull-a', { name: 'pull-b' }] },
      imagePullSecrets: [{ name: 'pull-c' }],
      monitoring: { enabled: true, alarms: true, grafanaDashboard: true, labels: { release: 'prom' } },
      podAnnotations: { 'example.com/a': 'b' },
      podLabels: { team: 'chat' },
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
      },
      nodeSelector: { disk: 'ssd' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'chat', effect: 'NoSchedule' }],
      priorityClassName: 'high',
      extraEnv: [{ name: 'EXTRA', value: '1' }],
      extraVolumes: [{ name: 'ca', secret: { secretName: 'redis-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/redis-ca', readOnly: true }],
      resources: { limits: { memory: '3Gi' } },
    },
  },
  {
    chart: 'nexus',
    name: 'ingress with TLS, Redis Cluster over TLS, PostgreSQL SSL, migration job',
    release: 'chat-gw',
    values: {
      ...secrets,
      nexus: {
        ...secrets.nexus,
        fqdn: 'chat.example.com',
        redis: {
          nodes: 'rediss://r1:6379,rediss://r2:6379',
          useCluster: true,
          enableTls: true,
          password: 'pw',
          tlsCaFile: '/etc/redis-ca/ca.crt',
          readinessGraceMs: 10000,
        },
        db: { enableSSL: true, password: 'db-pw' },
      },
      service: { type: 'NodePort', nodePorts: { http: 30080, https: 30443 } },
      ingress: {
        enabled: true,
        className: 'nginx',
        certManager: true,
        annotations: { 'example.com/x': 'y' },
        hosts: [{ name: 'chat.example.com', paths: [{ path: '/chat/v3/', port: 'http' }], tls: true }],
        secrets: [{ name: 'chat-tls', certificate: 'CERT', key: 'KEY' }],
        tls: [{ hosts: ['other.example.com'], secretName: 'other-tls' }],
      },
      migrations: { job: true },
    },
  },
  {
    chart: 'nexus',
    name: 'existing Secret and ConfigMap, names overridden',
    values: {
      existingSecret: 'mine',
      existingConfig: 'my-config',
      fullnameOverride: 'gw',
      nameOverride: 'n',
    },
  },
  { chart: 'athena', name: 'defaults', values: {} },
  {
    chart: 'athena',
    name: 'service account, ingress, monitoring, no checksums',
    release: 'ai',
    values: {
      serviceAccount: { create: true, annotations: { 'iam.example.com/role': 'athena' } },
      ingress: {
        enabled: true,
        className: 'nginx',
        hosts: [{ host: 'ai.example.com', paths: ['/athena/v1', { path: '/nexus/v3' }] }],
        tls: [{ secretName: 'ai-tls', hosts: ['ai.example.com'] }],
      },
      monitoring: { enabled: true, labels: { release: 'prom' } },
      configChecksum: false,
      secretChecksum: false,
      containerPort: 5000,
      athena: { nexus: { apiKey: 'key' }, redis: { cluster: true, tls: true, nodes: 'rediss://r:6379' } },
      tolerations: [{ key: 'gpu', operator: 'Exists' }],
    },
  },
];

describe.runIf(goAvailable())('the charts under Go text/template with Sprig', () => {
  it.each(CASES)(
    '$chart, $name: both engines render the same documents',
    ({ chart, name, values, release }) => {
      const ns = 'chat';
      const rel = release ?? chart;
      const go = goRender(chart, values, rel, ns);
      const ts = tsRender(chart, values, rel, ns);
      expect(go.size, name).toBeGreaterThan(3);
      expect(differences(ts, go)).toEqual([]);
    },
  );

  it('sees a template the engines render differently', () => {
    // The comparison can fail: one document changed on one side.
    const ts = tsRender('nexus', secrets, 'nexus', 'chat');
    const go = goRender('nexus', secrets, 'nexus', 'chat');
    const name = 'nexus/templates/service.yaml';
    expect(go.get(name)).toBeTruthy();
    go.set(name, go.get(name)!.replace(/port: 80\b/, 'port: 81'));
    expect(differences(ts, go).map((d) => d.split('\n')[0])).toEqual([name]);
  });
});
