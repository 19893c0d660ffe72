/**
 * Every PromQL expression the charts ship (the nexus chart's PrometheusRule alerts, the guide's, and the Grafana
 * dashboard's queries) parses with Prometheus' own PromQL grammar (@prometheus-io/lezer-promql, the
 * parser of the Prometheus UI), since promtool is not available to the suites. A typo in an alert
 * would otherwise only show when Prometheus refuses the rule in a cluster.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { describe, expect, it } from 'vitest';
import { renderChart } from '../scripts/charts-render.js';

const root = join(import.meta.dirname, '..');

/** The parse errors of `expr`, each with the text around it; empty when Prometheus would take it. */
function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`at ${node.from}: …${expr.slice(Math.max(0, node.from - 20), node.to + 20)}…`);
    },
  });
  return errors;
}

/** Grafana replaces its variables before Prometheus sees a query; stand in values of the same kind. */
function grafanaToPromql(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?(\w+)\}?/g, 'x');
}

function alertRules(chart: string): Array<{ alert: string; expr: string }> {
  const r = renderChart(join(root, 'charts', chart), {
    values: { monitoring: { enabled: true } },
    release: { name: chart },
  });
  return r.docs
    .filter((d: { doc: any }) => d.doc?.kind === 'PrometheusRule')
    .flatMap((d: { doc: any }) => d.doc.spec.groups.flatMap((g: any) => g.rules));
}

describe('PromQL the charts ship', () => {
  it('recognises a broken expression (the check can fail)', () => {
    expect(promqlErrors('sum(rate(nexus_errors_total[5m])) > 0.2')).toEqual([]);
    expect(promqlErrors('sum(rate(nexus_errors_total[5m]) > 0.2')).not.toEqual([]);
    expect(promqlErrors('rate(nexus_errors_total{pod="a"}[5m]) >')).not.toEqual([]);
    expect(promqlErrors('nexus_errors_total{pod=a}')).not.toEqual([]);
  });

  it('every alert of the nexus chart parses', () => {
    const rules = alertRules('nexus');
    expect(rules.length).toBeGreaterThanOrEqual(2);
    for (const r of rules) expect(promqlErrors(String(r.expr)), r.alert).toEqual([]);
  });

  it("every query of the Grafana dashboard parses once Grafana's variables are in", () => {
    const dash = JSON.parse(readFileSync(join(root, 'charts/nexus/dashboards/nexus.json'), 'utf8'));
    const targets = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => [p.title, t.expr]));
    expect(targets.length).toBeGreaterThan(10);
    for (const [title, expr] of targets) expect(promqlErrors(grafanaToPromql(expr)), title).toEqual([]);
  });
});
