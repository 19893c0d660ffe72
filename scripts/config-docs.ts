/**
 * Prints the configuration table (every key, its env form, its default) as markdown, or with
 * `--write` replaces the table between the markers in docs/configuration.md. A test keeps the
 * checked-in table equal to the schema.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envTable } from '../src/shared/config.js';

export const BEGIN = '<!-- config-table:begin -->';
export const END = '<!-- config-table:end -->';

export function configTable(): string {
  const rows = envTable().map((r) => {
    const d = r.default === '' ? '(empty)' : JSON.stringify(r.default);
    return `| \`${r.key}\` | \`${r.env}\` | \`${d}\` |`;
  });
  return ['| key (YAML) | environment variable | default |', '|---|---|---|', ...rows].join('\n');
}

export function withTable(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) throw new Error('markers not found');
  return `${doc.slice(0, a + BEGIN.length)}\n${configTable()}\n${doc.slice(b)}`;
}

if (process.argv[1]?.endsWith('config-docs.ts')) {
  const file = join(import.meta.dirname, '..', 'docs', 'configuration.md');
  if (process.argv.includes('--write')) writeFileSync(file, withTable(readFileSync(file, 'utf8')));
  else process.stdout.write(`${configTable()}\n`);
}
