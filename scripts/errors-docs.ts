/**
 * Writes the error table of docs/errors.md from the catalog (`--write`), or prints it. The prose
 * around the table is written by hand; the test in test/docs.test.ts keeps both in step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../src/shared/errors.js';

export const BEGIN = '<!-- errors-table:begin -->';
export const END = '<!-- errors-table:end -->';

export function errorsTable(): string {
  const rows = Object.entries(ERRORS)
    .sort(([, a], [, b]) => a.code - b.code)
    .map(
      ([name, e]) => `| ${e.code} | \`${name}\` | ${e.http} | ${e.retryable ? 'yes' : 'no'} | ${e.message} |`,
    );
  return ['| code | name | HTTP | retry? | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

export function withErrorsTable(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) throw new Error('markers not found');
  return `${doc.slice(0, a + BEGIN.length)}\n${errorsTable()}\n${doc.slice(b)}`;
}

if (process.argv[1]?.endsWith('errors-docs.ts')) {
  const file = join(import.meta.dirname, '..', 'docs', 'errors.md');
  if (process.argv.includes('--write')) writeFileSync(file, withErrorsTable(readFileSync(file, 'utf8')));
  else process.stdout.write(`${errorsTable()}\n`);
}
