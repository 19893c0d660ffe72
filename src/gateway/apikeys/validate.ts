/**
 * Validation at the edge for the key and tenant routes: a zod failure becomes VALIDATION_FAILED
 * (code 1004) naming the first offending field, unknown fields included, so that a client can fix
 * its request without reading our source.
 */
import type { ZodError, ZodType, ZodTypeDef } from 'zod';
import { AppError } from '../../shared/errors.js';

export function fieldOf(err: ZodError): { field: string; message: string } {
  const issue = err.issues[0];
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0]);
  const field = path.join('.') || 'body';
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
  return { field, message };
}

export function parseInput<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const { field, message } = fieldOf(r.error);
  throw new AppError('VALIDATION_FAILED', `${field}: ${message}`, { field });
}
