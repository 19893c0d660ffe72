import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../shared/errors.js';
import { AssetStore, defaultAssetDir } from './assets.js';

describe('ux assets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nexus-assets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are looked for in <package>/dist/web, from the sources and the build alike', () => {
    expect(defaultAssetDir()).toBe(join(import.meta.dirname, '..', '..', '..', 'dist', 'web'));
  });

  it('serve only the files they know, with a content type and a stable ETag', () => {
    writeFileSync(join(dir, 'widget.js'), 'console.log(1)');
    const store = new AssetStore(dir);
    const a = store.get('widget.js');
    expect(a.contentType).toMatch(/^text\/javascript/);
    expect(a.etag).toMatch(/^"[\w-]{22}"$/);
    expect(store.get('widget.js').etag).toBe(a.etag);
    expect(store.has('../package.json')).toBe(false);
    expect(store.has('toString')).toBe(false);
    expect(() => store.get('../package.json')).toThrow(expect.objectContaining({ errorName: 'NOT_FOUND' }));
  });

  it('answer UX_NOT_BUILT when the bundles were never built', () => {
    const store = new AssetStore(join(dir, 'missing'));
    try {
      store.get('console.js');
      expect.unreachable();
    } catch (err) {
      expect(isAppError(err) && err.errorName).toBe('UX_NOT_BUILT');
      expect(isAppError(err) && err.http).toBe(503);
    }
  });
});
