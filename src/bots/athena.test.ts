import { describe, expect, it } from 'vitest';
import { apiPrefixes } from './athena.js';

describe('apiPrefixes', () => {
  it('splits athena.server.apiPrefix into normalised prefixes', () => {
    expect(apiPrefixes('/athena/v1,/nexus/v3')).toEqual(['/athena/v1', '/nexus/v3']);
    expect(apiPrefixes(' athena/v1/ , /nexus/v3,, /athena/v1')).toEqual(['/athena/v1', '/nexus/v3']);
    expect(apiPrefixes('/')).toEqual(['']);
  });
});
