import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { name, param, parse } from './validate.js';

const schema = z.object({ queue: name('queue'), nested: z.object({ n: z.number() }).optional() }).strict();

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('routing validation', () => {
  it('names the offending field, nested and unknown ones too', () => {
    expect(failure(() => parse(schema, {})).details?.field).toBe('queue');
    expect(failure(() => parse(schema, { queue: 'q', nested: { n: 'x' } })).details?.field).toBe('nested.n');
    const unknown = failure(() => parse(schema, { queue: 'q', colour: 'red' }));
    expect(unknown.details?.field).toBe('colour');
    expect(unknown.errorName).toBe('VALIDATION_FAILED');
    expect(failure(() => parse(schema, {}, 'query')).details?.field).toBe('query.queue');
  });

  it('accepts names that fit a URL segment and refuses the rest', () => {
    expect(parse(schema, { queue: 'sales.eu-1:vip@x' })).toEqual({ queue: 'sales.eu-1:vip@x' });
    for (const bad of ['', ' q', 'q/x', '-q', 'x'.repeat(129), 'q\n']) {
      expect(() => parse(schema, { queue: bad }), bad).toThrow(AppError);
    }
    expect(param('agent-1', 'agentId')).toBe('agent-1');
    expect(failure(() => param('a b', 'agentId')).details?.field).toBe('agentId');
    expect(failure(() => param(undefined, 'ccid')).details?.field).toBe('ccid');
  });
});
