#!/usr/bin/env node
/**
 * Writes charts/nexus/dashboards/nexus.json, the Grafana dashboard over the gateway's metrics.
 * Kept as code so panels stay uniform (same selectors, layout, data source variable); run it after
 * changing a panel: `node scripts/charts-dashboard.mjs`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// An output path as the first argument writes elsewhere (the chart test compares the two).
const out =
  process.argv[2] ??
  join(dirname(fileURLToPath(import.meta.url)), '..', 'charts', 'nexus', 'dashboards', 'nexus.json');
const sel = 'namespace=~"$namespace", pod=~"$pod"';
const ds = { type: 'prometheus', uid: '${datasource}' };
const panels = [];
let id = 0;
let x = 0;
let y = 0;

function row(title) {
  if (x) {
    x = 0;
    y += 8;
  }
  panels.push({
    type: 'row',
    title,
    id: ++id,
    collapsed: false,
    gridPos: { h: 1, w: 24, x: 0, y: y++ },
    panels: [],
  });
}

function panel(title, targets, unit, { w = 8, threshold, description = '' } = {}) {
  if (x + w > 24) {
    x = 0;
    y += 8;
  }
  const defaults = { unit };
  if (threshold !== undefined) {
    defaults.thresholds = {
      mode: 'absolute',
      steps: [
        { color: 'green', value: null },
        { color: 'red', value: threshold },
      ],
    };
    defaults.custom = { thresholdsStyle: { mode: 'line' } };
  }
  panels.push({
    type: 'timeseries',
    title,
    id: ++id,
    datasource: ds,
    description,
    gridPos: { h: 8, w, x, y },
    fieldConfig: { defaults, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: targets.map(([expr, legendFormat], i) => ({
      refId: String.fromCharCode(65 + i),
      expr,
      legendFormat,
    })),
  });
  x += w;
  if (x >= 24) {
    x = 0;
    y += 8;
  }
}

const quantiles = (metric, by = '') =>
  [0.5, 0.99].map((q) => [
    `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket{${sel}}[5m])))`,
    `p${q * 100}${by ? ` {{${by}}}` : ''}`,
  ]);

row('Chat');
// By pod only: the gauge's own `namespace` label (the socket.io namespace) is renamed exported_namespace
// at scrape time, since Kubernetes targets carry a namespace label of their own.
panel('Chat sockets', [[`sum by (pod) (nexus_chat_sockets{${sel}})`, '{{pod}}']], 'short', {
  description: 'Connected socket.io chat sockets per pod (customers and agents).',
});
panel(
  'Messages per second',
  [[`sum by (from) (rate(nexus_chat_messages_total{${sel}}[1m]))`, '{{from}}']],
  'ops',
  {
    description: 'Chat messages committed per second, by sender type.',
  },
);
panel('Group commit duration', quantiles('nexus_chat_commit_duration_milliseconds'), 'ms', {
  w: 4,
  description: 'One group-commit transaction; a message is acknowledged after its batch commits.',
});
panel('Group commit batch size', quantiles('nexus_chat_commit_batch_size'), 'short', {
  w: 4,
  description: 'Messages per group-commit transaction.',
});

row('Outbox and deliveries');
panel('Outbox pending', [[`sum by (pod) (nexus_outbox_pending{${sel}})`, '{{pod}}']], 'short', {
  description: 'Deliveries (SMS, email, webhooks, AI connector) written but not yet delivered.',
});
panel('Outbox delivery lag', quantiles('nexus_outbox_lag_seconds', 'kind'), 's', {
  description: 'Time from enqueue to successful delivery, by kind.',
});
panel(
  'Outbox outcomes',
  [
    [`sum by (kind) (rate(nexus_outbox_delivered_total{${sel}}[5m]))`, 'delivered {{kind}}'],
    [`sum by (kind) (rate(nexus_outbox_failures_total{${sel}}[5m]))`, 'failed {{kind}}'],
    [`sum by (kind) (rate(nexus_outbox_dead_total{${sel}}[5m]))`, 'dead-lettered {{kind}}'],
  ],
  'ops',
  { description: 'Failures are retried with backoff; dead-lettered deliveries need an operator.' },
);

row('HTTP');
panel('Request rate', [[`sum by (status) (rate(nexus_request_total{${sel}}[1m]))`, '{{status}}']], 'reqps');
panel(
  'Error ratio',
  [
    [
      `sum by (pod) (rate(nexus_errors_total{${sel}}[5m])) / sum by (pod) (rate(nexus_request_total{${sel}}[5m]))`,
      '{{pod}}',
    ],
  ],
  'percentunit',
  { threshold: 0.2, description: 'The NexusErrorRate alert fires above 20% for 15 minutes.' },
);
panel('Errors by code', [[`sum by (code) (rate(nexus_errors_total{${sel}}[5m]))`, '{{code}}']], 'reqps');
panel('Request latency', quantiles('nexus_http_request_duration_seconds'), 's', { w: 12 });
panel('Plugin circuits open', [[`sum by (pod) (nexus_plugin_circuit_open{${sel}})`, '{{pod}}']], 'short', {
  w: 12,
  description: 'Plugin instances refusing calls after repeated failures.',
});

row('Redis and PostgreSQL');
panel(
  'Redis connections',
  [
    [`sum(nexus_redis_connections_ready{${sel}})`, 'ready'],
    [`sum(nexus_redis_connections_reconnecting{${sel}})`, 'reconnecting'],
    [`sum(nexus_redis_connections_established{${sel}})`, 'established'],
  ],
  'short',
  { description: 'Reconnecting above 0: a node has lost Redis and cross-node delivery waits for it.' },
);
panel('Redis errors', [[`sum by (pod) (rate(nexus_redis_errors_total{${sel}}[5m]))`, '{{pod}}']], 'ops');
panel('Database errors', [[`sum by (code) (rate(nexus_db_errors_total{${sel}}[5m]))`, '{{code}}']], 'ops');
panel('Database requests', [[`sum by (pod) (rate(nexus_db_request_total{${sel}}[1m]))`, '{{pod}}']], 'ops');
panel('Database latency', quantiles('nexus_db_request_duration_milliseconds'), 'ms');
panel(
  'Database connections opened',
  [[`sum by (pod) (rate(nexus_db_connect_total{${sel}}[5m]))`, '{{pod}}']],
  'ops',
);

row('Process');
panel('Resident memory', [[`nexus_process_resident_memory_bytes{${sel}}`, '{{pod}}']], 'bytes', {
  threshold: 3000 * 1024 * 1024,
  description: 'The NexusMemoryUsage alert fires above 3000 MB for 15 minutes.',
});
panel('Event loop lag', [[`nexus_nodejs_eventloop_lag_seconds{${sel}}`, '{{pod}}']], 's');
panel('CPU', [[`rate(nexus_process_cpu_seconds_total{${sel}}[5m])`, '{{pod}}']], 'percentunit');

const variable = (name, label, query) => ({
  name,
  label,
  type: 'query',
  datasource: ds,
  query: { query, refId: name },
  definition: query,
  includeAll: true,
  allValue: '.*',
  multi: true,
  refresh: 2,
  current: {},
});

const dashboard = {
  title: 'Nexus digital channels',
  uid: 'nexus-gateway',
  schemaVersion: 39,
  version: 1,
  editable: true,
  tags: ['nexus'],
  time: { from: 'now-6h', to: 'now' },
  refresh: '30s',
  timezone: 'browser',
  templating: {
    list: [
      { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {} },
      variable('namespace', 'Namespace', 'label_values(nexus_request_total, namespace)'),
      variable('pod', 'Pod', 'label_values(nexus_request_total{namespace=~"$namespace"}, pod)'),
    ],
  },
  annotations: { list: [] },
  panels,
};

writeFileSync(out, `${JSON.stringify(dashboard, null, 2)}\n`);
