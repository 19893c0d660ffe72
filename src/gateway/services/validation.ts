/**
 * Turns a zod failure into the catalog's VALIDATION_FAILED, naming the first offending field as a
 * dotted path (`secret.password`, `data.channels.0.channelId`) in both the message and
 * `details.field`, so a person can fix the body without guessing.
 */
import type { ZodError, ZodIssue, ZodType, z } from 'zod';
import { AppError } from '../../shared/errors.js';

export function issueField(issue: ZodIssue, prefix = ''): string {
  const path = [...issue.path];
  // An unknown key is reported on its parent object: name the key itself.
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]);
  const joined = path.map(String).join('.');
  return [prefix, joined].filter((s) => s.length > 0).join('.') || 'body';
}

function describe(issue: ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return 'is not a known field';
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return 'is required';
  return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
}

export function validationError(err: ZodError, prefix = ''): AppError {
  const issue = pickIssue(err.issues);
  const field = issueField(issue, prefix);
  return new AppError('VALIDATION_FAILED', `${field} ${describe(issue)}.`, { field });
}

/** A union reports one `invalid_union` issue; the deepest branch failure names the real field. */
function pickIssue(issues: ZodIssue[]): ZodIssue {
  const first = issues[0];
  if (first.code !== 'invalid_union') return first;
  const nested = first.unionErrors.flatMap((e) => e.issues);
  if (nested.length === 0) return first;
  return pickIssue([nested.reduce((a, b) => (b.path.length > a.path.length ? b : a))]);
}

export function parseOrThrow<S extends ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, prefix);
  return r.data;
}
