#!/usr/bin/env node
/**
 * Bundles the browser code in web/ with esbuild into dist/web/ (never committed; the gateway serves
 * it under /ux): the widget a site embeds, the agent console, the demo page, and their styles.
 * `--watch` rebuilds on change; `--out <dir>` writes elsewhere. Prints each file's size, raw and gzipped.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
// `--out <dir>`: somewhere else than dist/web (the browser tests build into their own folder).
const out = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'web');
const watch = process.argv.includes('--watch');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: !watch,
  sourcemap: watch ? 'inline' : false,
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: root,
  outdir: out,
  define: { 'process.env.NODE_ENV': '"production"' },
};

const builds = [
  // The widget runs on other people's sites: one IIFE, no globals but `Nexus`.
  // Its CSS goes into its shadow root, so it is imported as text.
  { ...common, entryPoints: { widget: 'web/widget/index.ts' }, format: 'iife', loader: { '.css': 'text' } },
  { ...common, entryPoints: { console: 'web/console/index.ts', demo: 'web/demo/index.ts' }, format: 'iife' },
  {
    ...common,
    entryPoints: { console: 'web/console/console.css', demo: 'web/demo/demo.css', site: 'web/demo/site.css' },
  },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  process.stdout.write(`watching web/ → ${out}\n`);
} else {
  const results = await Promise.all(builds.map((b) => esbuild.build({ ...b, metafile: true })));
  const files = results.flatMap((r) => Object.keys(r.metafile.outputs)).sort();
  const rows = files.map((f) => {
    const body = readFileSync(join(root, f));
    return `  ${relative(root, join(root, f)).padEnd(26)} ${(body.length / 1024).toFixed(1).padStart(7)} kB  ${(gzipSync(body).length / 1024).toFixed(1).padStart(6)} kB gzip`;
  });
  process.stdout.write(`web bundles:\n${rows.join('\n')}\n`);
}
