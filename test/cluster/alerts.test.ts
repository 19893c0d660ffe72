/**
 * The chart's alerts, checked and unit-tested by Prometheus' own promtool (Debian's `prometheus`
 * package, which CI installs): the rendered PrometheusRule must load as a rules file
 * (`promtool check rules`), and `promtool test rules` plays series through it: a pod answering
 * 30% of its requests with server errors fires NexusErrorRate after the guide's 15 minutes and not
 * before, nor at 15%; refused client requests count as errors (docs/operations.md's runbook covers
 * them); a pod above 3000 MB of resident memory for 15 minutes fires NexusMemoryUsage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderChart } from '../../scripts/charts-render.js';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'nexus-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is needed (apt-get install prometheus): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const rendered = renderChart(join(root, 'charts/nexus'), {
  values: { monitoring: { enabled: true, alarms: true } },
  release: { name: 'nexus', namespace: 'chat' },
});
const rule = rendered.docs.find((d: { doc: any }) => d.doc?.kind === 'PrometheusRule')?.doc;
writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule?.spec?.groups ?? [] }));

const pod = { namespace: 'chat', service: 'nexus-metrics', pod: 'nexus-0' };
const labels = (extra: Record<string, string>) =>
  `{${Object.entries({ ...pod, ...extra })
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;
/** A counter growing by `perSecond` for 40 one-minute steps. */
const counter = (name: string, extra: Record<string, string>, perSecond: number) => ({
  series: `${name}${labels(extra)}`,
  values: `0+${perSecond * 60}x40`,
});

function testRules(name: string, tests: unknown[]): { status: number | null; out: string } {
  const file = `${name}.test.yaml`;
  writeFileSync(join(dir, file), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
  return promtool('test', 'rules', file);
}

describe('the PrometheusRule under promtool', () => {
  it('renders the guide alerts as a rules file Prometheus loads', () => {
    expect(rule, 'the chart renders a PrometheusRule with monitoring on').toBeTruthy();
    const r = promtool('check', 'rules', 'rules.yaml');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: 2 rules found/);
    // The check can fail: a broken expression is refused.
    writeFileSync(
      join(dir, 'broken.yaml'),
      stringify({
        groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'sum(rate(nexus_errors_total[5m])' }] }],
      }),
    );
    expect(promtool('check', 'rules', 'broken.yaml').status).not.toBe(0);
  });

  it('fires NexusErrorRate when 30% of requests fail with server errors for 15 minutes, not before', () => {
    const r = testRules('server-errors', [
      {
        interval: '1m',
        input_series: [
          counter('nexus_request_total', { method: 'POST', status: '200' }, 7),
          counter('nexus_request_total', { method: 'POST', status: '503' }, 3),
          counter('nexus_errors_total', { method: 'POST', status: '503', code: '1003' }, 3),
        ],
        alert_rule_test: [
          { eval_time: '12m', alertname: 'NexusErrorRate', exp_alerts: [] },
          {
            eval_time: '25m',
            alertname: 'NexusErrorRate',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', namespace: 'chat', pod: 'nexus-0' },
                // Prometheus' own templating of the description, with the measured rate.
                exp_annotations: {
                  summary: 'Nexus error rate',
                  description: 'More than 20% of the requests on nexus-0 have failed for 15 minutes (30%).',
                },
              },
            ],
          },
        ],
      },
    ]);
    expect(r.status, r.out).toBe(0);
  });

  it('does not fire at 15% errors; refused client requests (4xx) count, as docs/operations.md says', () => {
    const below = testRules('below-threshold', [
      {
        interval: '1m',
        input_series: [
          counter('nexus_request_total', { method: 'POST', status: '200' }, 17),
          counter('nexus_request_total', { method: 'POST', status: '503' }, 3),
          counter('nexus_errors_total', { method: 'POST', status: '503', code: '1003' }, 3),
        ],
        alert_rule_test: [{ eval_time: '35m', alertname: 'NexusErrorRate', exp_alerts: [] }],
      },
    ]);
    expect(below.status, below.out).toBe(0);
    // A client hammering with a wrong key is an incident too (the runbook's 401/403/429 case).
    const refused = testRules('client-errors', [
      {
        interval: '1m',
        input_series: [
          counter('nexus_request_total', { method: 'POST', status: '200' }, 5),
          counter('nexus_request_total', { method: 'POST', status: '401' }, 5),
          counter('nexus_errors_total', { method: 'POST', status: '401', code: '1002' }, 5),
        ],
        alert_rule_test: [
          {
            eval_time: '25m',
            alertname: 'NexusErrorRate',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', namespace: 'chat', pod: 'nexus-0' },
                exp_annotations: {
                  summary: 'Nexus error rate',
                  description: 'More than 20% of the requests on nexus-0 have failed for 15 minutes (50%).',
                },
              },
            ],
          },
        ],
      },
    ]);
    expect(refused.status, refused.out).toBe(0);
  });

  it('fires NexusMemoryUsage above 3000 MB for 15 minutes, not at 2900 MB', () => {
    const mb = 1024 * 1024;
    const r = testRules('memory', [
      {
        interval: '1m',
        input_series: [
          { series: `nexus_process_resident_memory_bytes${labels({})}`, values: `${3100 * mb}x40` },
          {
            series: `nexus_process_resident_memory_bytes${labels({ pod: 'nexus-1' })}`,
            values: `${2900 * mb}x40`,
          },
        ],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'NexusMemoryUsage', exp_alerts: [] },
          {
            eval_time: '20m',
            alertname: 'NexusMemoryUsage',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', ...pod },
                exp_annotations: {
                  summary: 'Memory usage is above 3000 MB',
                  description:
                    'nexus-0 has used more than 3000 MB of resident memory for 15 minutes (3.027GiB).',
                },
              },
            ],
          },
        ],
      },
    ]);
    expect(r.status, r.out).toBe(0);
  });
});
