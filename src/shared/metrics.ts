/**
 * One prom-client registry per service, every metric prefixed with the service name (`nexus_`),
 * as the deployment guide names them. The registry is passed to the parts that record.
 */
import client from 'prom-client';

export type Registry = client.Registry;

export function createRegistry(prefix: string): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: `${prefix}_` });
  return registry;
}

export function counter(registry: client.Registry, name: string, help: string, labelNames: string[] = []) {
  return (
    (registry.getSingleMetric(name) as client.Counter<string>) ??
    new client.Counter({ name, help, labelNames, registers: [registry] })
  );
}

export function gauge(registry: client.Registry, name: string, help: string, labelNames: string[] = []) {
  return (
    (registry.getSingleMetric(name) as client.Gauge<string>) ??
    new client.Gauge({ name, help, labelNames, registers: [registry] })
  );
}

export function histogram(
  registry: client.Registry,
  name: string,
  help: string,
  labelNames: string[] = [],
  buckets?: number[],
) {
  return (
    (registry.getSingleMetric(name) as client.Histogram<string>) ??
    new client.Histogram({ name, help, labelNames, buckets, registers: [registry] })
  );
}
