/**
 * Validation at the edge for the routing modules: a zod failure becomes VALIDATION_FAILED naming the
 * first offending field, so that a client can fix its request without reading our source.
 */
import type { ZodError, ZodType, ZodTypeDef } from 'zod';
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';

/** Names of endpoints, queues and agents: what fits in a URL segment and a log line. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
export const name = (what: string) =>
  z.string().regex(NAME_RE, `${what} must be 1-128 letters, digits or _.:@-`);

export function fieldOf(err: ZodError, prefix: string): { field: string; message: string } {
  const issue = err.issues[0];
  const path = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
  const field = path.join('.') || prefix || 'body';
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
  return { field, message };
}

export function parse<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, prefix = ''): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const { field, message } = fieldOf(r.error, prefix);
  throw new AppError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}

/** A route parameter must be a valid name; otherwise the request is a 400 naming the parameter. */
export function param(value: string | undefined, field: string): string {
  if (!value || !NAME_RE.test(value)) {
    throw new AppError('VALIDATION_FAILED', `${field} must be 1-128 letters, digits or _.:@-`, { field });
  }
  return value;
}
