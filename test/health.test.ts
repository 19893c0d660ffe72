import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engines } from './helpers/engines.js';
import { api, startNexus, type TestNexus } from './helpers/nexus.js';

describe.each(engines())('health on %s engines', (engine) => {
  let t: TestNexus;
  beforeAll(async () => {
    t = await startNexus({ engine });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('answers /health/detail in the guide shape, green', async () => {
    const r = await api(t.url, 'GET', '/health/detail');
    expect(r.status).toBe(200);
    expect(r.body.state).toBe('green');
    expect(r.body.db).toEqual({ ready: true });
    expect(r.body.cache).toEqual({ ready: true, state: 'READY' });
    for (const k of ['buildInfo', 'startTime', 'os', 'upTime', 'memoryUsage'])
      expect(r.body).toHaveProperty(k);
    expect(r.headers.get('x-b3-traceid')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('answers liveness and readiness', async () => {
    expect((await api(t.url, 'GET', '/health/live')).status).toBe(200);
    expect((await api(t.url, 'GET', '/health/ready')).status).toBe(200);
  });

  it('goes red with the reason when the database is gone', async () => {
    const other = await startNexus({ engine });
    await other.nexus.db.close();
    const r = await api(other.url, 'GET', '/health/detail');
    expect(r.status).toBe(503);
    expect(r.body.state).toBe('red');
    expect(r.body.db.ready).toBe(false);
    expect(r.body.reasons.join(' ')).toMatch(/db/);
    await other.cleanup();
    // With a gateway of its own: an embedded boot took over 30 s on 2 cores under a load of 8.
  }, 90_000);

  it('serves the guide metric names on the metrics port', async () => {
    await api(t.url, 'GET', '/health/detail');
    const text = await (await fetch(`http://127.0.0.1:${t.nexus.metricsPort}/metrics`)).text();
    for (const name of [
      'nexus_request_total',
      'nexus_db_request_total',
      'nexus_db_success_total',
      'nexus_db_request_duration_milliseconds',
      'nexus_process_resident_memory_bytes',
      'nexus_nodejs_heap_size_used_bytes',
    ]) {
      expect(text).toContain(name);
    }
  });
});
