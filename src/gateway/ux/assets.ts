/**
 * The browser bundles that `npm run build:web` writes to `dist/web/` (never committed). They are
 * found from this file's location, which works from the sources (`src/gateway/ux`) and from the
 * compiled output (`dist/src/gateway/ux`) alike, and read once into memory with an ETag.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../shared/errors.js';

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The files a page may ask for, by name; anything else is a 404 (no path ever reaches the disk). */
export const ASSET_TYPES: Readonly<Record<string, string>> = {
  'widget.js': 'text/javascript; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'demo.js': 'text/javascript; charset=utf-8',
  'demo.css': 'text/css; charset=utf-8',
  'site.css': 'text/css; charset=utf-8',
};

/** The package root: the nearest parent folder with a package.json. */
function packageRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
}

export function defaultAssetDir(): string {
  return join(packageRoot(dirname(fileURLToPath(import.meta.url))), 'dist', 'web');
}

export class AssetStore {
  private readonly cache = new Map<string, Asset>();

  constructor(readonly dir: string = defaultAssetDir()) {}

  has(name: string): boolean {
    return Object.hasOwn(ASSET_TYPES, name);
  }

  /** The asset, or UX_NOT_BUILT when the bundles were never built. */
  get(name: string): Asset {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const contentType = ASSET_TYPES[name];
    if (!contentType) throw new AppError('NOT_FOUND');
    let body: Buffer;
    try {
      body = readFileSync(join(this.dir, name));
    } catch (err) {
      throw new AppError('UX_NOT_BUILT', undefined, { asset: name }, { cause: err });
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    const asset = { body, contentType, etag };
    this.cache.set(name, asset);
    return asset;
  }
}
