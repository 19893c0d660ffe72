/** The documentation that is derived from code stays equal to it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTable } from '../scripts/config-docs.js';
import { withErrorsTable } from '../scripts/errors-docs.js';
import { ERRORS } from '../src/shared/errors.js';

const root = join(import.meta.dirname, '..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('documentation', () => {
  it('docs/configuration.md lists every configuration key with its env form and default', () => {
    const doc = read('docs/configuration.md');
    expect(doc, 'run: npx tsx scripts/config-docs.ts --write').toBe(withTable(doc));
  });

  it('docs/errors.md documents every error code of the catalog, with its name and HTTP status', () => {
    const doc = read('docs/errors.md');
    const missing: string[] = [];
    for (const [name, spec] of Object.entries(ERRORS)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| ${spec.code} |`));
      if (!row || !row.includes(`\`${name}\``) || !row.includes(`| ${spec.http} |`))
        missing.push(`${spec.code} ${name}`);
    }
    expect(missing).toEqual([]);
    expect(doc, 'run: npx tsx scripts/errors-docs.ts --write').toBe(withErrorsTable(doc));
  });

  it('error codes and names are unique', () => {
    const codes = Object.values(ERRORS).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('the README starts with the two commands a newcomer needs', () => {
    const head = read('README.md').split('\n').slice(0, 12).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });
});
