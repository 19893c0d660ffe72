/**
 * Tenants and API keys for integration tests, made through the public REST API with the gateway's
 * admin token (so a test exercises the same path an operator uses).
 */
import { randomUUID } from 'node:crypto';
import { api, type TestNexus } from './nexus.js';

export interface TestTenant {
  ccid: string;
  /** The tenant's own key (`data.xapikey`): permissions `nexus:*` for this tenant only. */
  apiKey: string;
}

export interface TestApiKey {
  /** The key value, for `x-api-key`. */
  apiKey: string;
  /** The id that manages the key afterwards (`GET|DELETE /nexus/v3/apikeys/{keyId}`). */
  keyId: string;
  /** The record as the create call answered it. */
  record: Record<string, unknown>;
}

function fail(what: string, r: { status: number; body: unknown }): never {
  throw new Error(`${what} failed: HTTP ${r.status} ${JSON.stringify(r.body)}`);
}

/** Provisions a tenant (a fresh UUID ccid unless one is given) and returns its API key. */
export async function createTenant(
  t: Pick<TestNexus, 'url' | 'adminToken'>,
  ccid: string = randomUUID(),
  extra: Record<string, unknown> = {},
): Promise<TestTenant> {
  const r = await api(t.url, 'POST', '/nexus/v3/provisioning/tenants', {
    headers: { authorization: `Bearer ${t.adminToken}` },
    json: { id: ccid, name: `tenant ${ccid}`, type: 'PureEngage', ...extra },
  });
  if (r.status !== 200 && r.status !== 201) fail(`creating tenant ${ccid}`, r);
  return { ccid, apiKey: r.body.data.xapikey };
}

/**
 * Creates an API key with the admin token. `tenant` is a ccid, or `*` for a cluster key (which must
 * then name the tenant with `x-ccid`).
 */
export async function createApiKey(
  t: Pick<TestNexus, 'url' | 'adminToken'>,
  opts: {
    tenant: string;
    permissions: string[];
    name?: string;
    enabled?: boolean;
    capacity?: number;
    frequency?: number;
    expires?: string;
  },
): Promise<TestApiKey> {
  const { name, enabled, ...rest } = opts;
  const r = await api(t.url, 'POST', '/nexus/v3/apikeys', {
    headers: { authorization: `Bearer ${t.adminToken}` },
    json: { enabled: enabled ?? true, name: name ?? `test key ${opts.permissions.join(',')}`, ...rest },
  });
  if (r.status !== 200 && r.status !== 201) fail('creating an API key', r);
  return { apiKey: r.body.data.id, keyId: r.body.data.keyId, record: r.body.data };
}

/** Headers for a request made with an API key (and, for cluster keys, the tenant it acts on). */
export function keyHeaders(apiKey: string, ccid?: string): Record<string, string> {
  return ccid ? { 'x-api-key': apiKey, 'x-ccid': ccid } : { 'x-api-key': apiKey };
}
