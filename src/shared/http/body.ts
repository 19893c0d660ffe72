/**
 * Request bodies: JSON and `application/x-www-form-urlencoded` (with bracketed keys such as
 * `data[firstName]`, as the suite's widgets send them). Anything else is refused unless the route
 * asks for the raw bytes.
 */
import { AppError } from '../errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * PostgreSQL text cannot hold U+0000: a value carrying it would fail deep in a query as a 500.
 * Refused at the edge instead, naming where it was.
 */
export function refuseNul(value: string, field: string): void {
  if (value.includes('\u0000'))
    throw new AppError('VALIDATION_FAILED', `${field || 'a value'} must not contain NUL characters.`, {
      field,
    });
}

/**
 * Half of a UTF-16 surrogate pair alone (only a JSON `\uD800` escape makes one): jsonb refuses it,
 * failing the query, or a whole commit batch of chat messages, as a 500 or an endless 503.
 */
export function refuseLoneSurrogate(value: string, field: string): void {
  if (hasLoneSurrogate(value))
    throw new AppError('VALIDATION_FAILED', `${field || 'a value'} must be well-formed Unicode.`, { field });
}

// Without the u flag a regex sees UTF-16 code units, so it can find a half pair.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}

/** A JSON text that may hold a NUL or a surrogate escape: only those are walked. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: a literal NUL is one of the things it looks for
const SUSPECT = /\\u0000|\u0000|\\u[dD][89a-fA-F]/;

/** `a[b][c]=1&a[d][]=2` → `{ a: { b: { c: '1' }, d: ['2'] } }`. */
export function parseForm(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  const params = new URLSearchParams(text);
  for (const [rawKey, value] of params) {
    refuseNul(rawKey, 'a form key');
    refuseNul(value, rawKey);
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    const parts = m ? [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])] : [rawKey];
    if (parts.some((p) => FORBIDDEN_KEYS.has(p))) continue;
    let node: any = out;
    for (let i = 0; i < parts.length; i++) {
      const key = parts[i];
      const last = i === parts.length - 1;
      if (key === '') {
        // `a[]=x`: append to an array
        if (!Array.isArray(node)) break;
        if (last) node.push(value);
        else {
          const child = Object.create(null);
          node.push(child);
          node = child;
        }
        continue;
      }
      if (last) {
        if (Array.isArray(node)) node.push(value);
        else node[key] = value;
      } else {
        const nextIsArray = parts[i + 1] === '';
        if (node[key] === undefined || typeof node[key] !== 'object')
          node[key] = nextIsArray ? [] : Object.create(null);
        node = node[key];
      }
    }
  }
  return plain(out) as Record<string, unknown>;
}

/** Null-prototype objects become ordinary ones so that validators and JSON treat them as usual. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}

export type BodyKind = 'json' | 'form' | 'raw';

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** Parses a body by its content type. An empty body is `undefined`. */
export function parseBody(raw: Buffer, contentType: string | undefined, accept: BodyKind[]): unknown {
  if (raw.length === 0) return undefined;
  const type = mediaType(contentType);
  if ((type === 'application/json' || type.endsWith('+json')) && accept.includes('json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'), (k, v) => (FORBIDDEN_KEYS.has(k) ? undefined : v));
    } catch {
      throw new AppError('MALFORMED_JSON');
    }
    // Only a body that may hold NUL or a lone surrogate is walked (escapes, or a literal NUL).
    if (SUSPECT.test(raw.toString('utf8'))) walkNul(parsed, '');
    return parsed;
  }
  if (type === 'application/x-www-form-urlencoded' && accept.includes('form')) {
    return parseForm(raw.toString('utf8'));
  }
  if (accept.includes('raw')) return undefined;
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', undefined, { contentType: type || '(none)' });
}

/** Every string and key, however deep (iteratively: one NUL anywhere fails a whole commit batch). */
function walkNul(root: unknown, rootPath: string): void {
  const stack: Array<[unknown, string]> = [[root, rootPath]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, path] = item;
    if (typeof v === 'string') {
      refuseNul(v, path);
      refuseLoneSurrogate(v, path);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        refuseNul(k, `${path ? `${path}.` : ''}(key)`);
        refuseLoneSurrogate(k, `${path ? `${path}.` : ''}(key)`);
        // A path stops growing at some length, so that deep nesting costs no quadratic memory.
        stack.push([x, path.length > 256 ? path : path ? `${path}.${k}` : k]);
      }
    }
  }
}
