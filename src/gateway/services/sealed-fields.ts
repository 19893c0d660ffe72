/**
 * Secret fields outside `secret`: a plugin's config schema may mark a field secret anywhere
 * (`data.apiKey`, `data.endpoints.*.password`, even `url`). Before a service is stored, the values
 * at those paths are taken out of `url` and `data` and sealed with the secret; `getWithSecret` puts
 * them back. Every other read sees the service without them.
 */
import { matchSecretPaths } from '../../plugins/sdk.js';
import type { ServiceBody } from './schemas.js';

/** One value taken out of `{ url, data }`: its path from there (`["data","apiKey"]`) and the value. */
export interface SealedField {
  path: string[];
  value: unknown;
}

/** The parts of a stored service that may hold a sealed field (`secret` is sealed whole anyway). */
interface Open {
  url?: string | null;
  data: Record<string, unknown>;
}

/** Only the patterns that reach into `url` or `data`; the root (all secret) means both. */
export function outsideSecret(patterns: readonly (readonly string[])[]): string[][] {
  const out: string[][] = [];
  for (const p of patterns) {
    if (p.length === 0) out.push(['url'], ['data']);
    else if (p[0] === 'url' || p[0] === 'data') out.push([...p]);
  }
  return out;
}

/** A copy of `body` without the values `patterns` name, and those values. */
export function takeSealedFields(
  body: ServiceBody,
  patterns: readonly (readonly string[])[],
): { body: ServiceBody; fields: SealedField[] } {
  const paths = matchSecretPaths({ url: body.url, data: body.data }, outsideSecret(patterns));
  if (paths.length === 0) return { body, fields: [] };
  const open: Open = { url: body.url, data: structuredClone(body.data) };
  const fields: SealedField[] = [];
  for (const path of paths) {
    const parent = walk(open, path.slice(0, -1));
    const last = path[path.length - 1];
    if (!parent || !Object.hasOwn(parent, last)) continue;
    const value = own(parent, last);
    if (value === undefined) continue;
    fields.push({ path, value });
    // An array keeps its length (the indexes of the other elements stay what they were).
    if (Array.isArray(parent)) put(parent, last, null);
    else delete (parent as Record<string, unknown>)[last];
  }
  return { body: { ...body, url: open.url ?? undefined, data: open.data }, fields };
}

/** `{ url, data }` with the sealed values back in their places. */
export function restoreSealedFields<T extends Open>(record: T, fields: readonly SealedField[]): T {
  if (fields.length === 0) return record;
  const open: Open = { url: record.url, data: structuredClone(record.data) };
  for (const { path, value } of fields) {
    if (!Array.isArray(path) || path.length === 0 || (path[0] !== 'url' && path[0] !== 'data')) continue;
    let o: Record<string, unknown> = open as unknown as Record<string, unknown>;
    for (const [i, seg] of path.slice(0, -1).entries()) {
      const next = own(o, seg);
      if (next === null || typeof next !== 'object') put(o, seg, /^\d+$/.test(path[i + 1]) ? [] : {});
      o = own(o, seg) as Record<string, unknown>;
    }
    put(o, path[path.length - 1], value);
  }
  return { ...record, url: open.url ?? null, data: open.data };
}

// Own properties only: a key such as `__proto__` in a body is data, never the prototype.
function own(o: object, key: string): unknown {
  return Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

function put(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

function walk(root: Open, path: string[]): object | undefined {
  let o: unknown = root;
  for (const seg of path) {
    if (o === null || typeof o !== 'object') return undefined;
    o = own(o, seg);
  }
  return o !== null && typeof o === 'object' ? o : undefined;
}
