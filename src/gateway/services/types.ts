import type { Unsubscribe } from '../../shared/state/types.js';
import type { ServiceBody } from './schemas.js';

/** A provisioned service as clients and other modules see it: never the secret itself. */
export interface ServiceRecord {
  ccid: string;
  name: string;
  url: string | null;
  data: Record<string, unknown>;
  /** Dotted paths of the secret's fields (`username`, `channels.0.api.secret`), without values. */
  secretFields: string[];
  /**
   * Dotted paths from the service's root of secret fields outside `secret` (a plugin's `secret()`
   * fields, e.g. `data.apiKey`, `data.endpoints.0.password`): sealed, so absent from `data`/`url`.
   */
  sealedFields: string[];
  created: string;
  updated: string;
}

/** For the plugins and athena that must call the provider: the decrypted secret, never sent out. */
export interface ServiceWithSecret<S = Record<string, unknown>> extends ServiceRecord {
  secret: S;
}

export type ServiceChangeOp = 'created' | 'replaced' | 'deleted';

/** Published on the shared pub/sub channel `services:changed` (all nodes see it). */
export interface ServiceChange {
  ccid: string;
  name: string;
  op: ServiceChangeOp;
}

/** What other modules use: read services and hear of changes. */
export interface ServiceReader {
  get(ccid: string, name: string): Promise<ServiceRecord | undefined>;
  /** Throws SERVICE_SECRET_UNREADABLE when the stored secret does not decrypt. */
  getWithSecret<S = Record<string, unknown>>(
    ccid: string,
    name: string,
  ): Promise<ServiceWithSecret<S> | undefined>;
  list(ccid: string): Promise<ServiceRecord[]>;
  /** Calls `listener` for every change made on any node; the returned function stops it. */
  onChange(listener: (change: ServiceChange) => void): Promise<Unsubscribe>;
}

/** What the provisioning routes use. Bodies are validated before they reach the store. */
export interface ServiceWriter {
  /** SERVICE_EXISTS when present, TENANT_NOT_FOUND when the tenant is not. */
  create(ccid: string, name: string, body: ServiceBody): Promise<ServiceRecord>;
  /** Creates or replaces. */
  put(ccid: string, name: string, body: ServiceBody): Promise<{ record: ServiceRecord; created: boolean }>;
  /** SERVICE_NOT_FOUND when absent; answers the removed record. */
  delete(ccid: string, name: string): Promise<ServiceRecord>;
}

export type ServiceStore = ServiceReader & ServiceWriter;

export const SERVICES_CHANGED = 'services:changed';
