/**
 * The route table: `METHOD /path/:param/*` patterns matched segment by segment, so that an unknown
 * path is a 404 and a known path with the wrong method a 405.
 */
import type { BodyKind } from './body.js';
import type { HttpContext, Reply } from './types.js';

export type Handler = (ctx: HttpContext) => Promise<Reply> | Reply;

export interface RouteOptions {
  /** Body kinds this route accepts; default json and form. */
  body?: BodyKind[];
  /** Largest body for this route, in bytes; default the server's limit. */
  bodyLimit?: number;
}

export interface Route {
  method: string;
  pattern: string;
  segments: string[];
  handler: Handler;
  options: RouteOptions;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler, options: RouteOptions = {}): this {
    this.routes.push({ method: method.toUpperCase(), pattern, segments: split(pattern), handler, options });
    return this;
  }

  get(p: string, h: Handler, o?: RouteOptions) {
    return this.add('GET', p, h, o);
  }
  post(p: string, h: Handler, o?: RouteOptions) {
    return this.add('POST', p, h, o);
  }
  put(p: string, h: Handler, o?: RouteOptions) {
    return this.add('PUT', p, h, o);
  }
  delete(p: string, h: Handler, o?: RouteOptions) {
    return this.add('DELETE', p, h, o);
  }

  list(): ReadonlyArray<Route> {
    return this.routes;
  }

  /** The matching route, or `{ allowed }` when only the method is wrong, or undefined. */
  match(method: string, path: string): Match | { allowed: string[] } | undefined {
    const segs = split(path);
    const allowed: string[] = [];
    let best: { m: Match; score: number } | undefined;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segs);
      if (!params) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      // Prefer static segments over parameters over wildcards.
      const score = route.segments.reduce((s, x) => s + (x === '*' ? 0 : x.startsWith(':') ? 1 : 2), 0);
      if (!best || score > best.score) best = { m: { route, params }, score };
    }
    if (best) return best.m;
    return allowed.length ? { allowed: [...new Set(allowed)] } : undefined;
  }
}

function matchSegments(pattern: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '*') {
      params['*'] = segs.slice(i).join('/');
      return params;
    }
    const s = segs[i];
    if (s === undefined) return undefined;
    if (p.startsWith(':')) {
      let v: string;
      try {
        v = decodeURIComponent(s);
      } catch {
        return undefined;
      }
      params[p.slice(1)] = v;
    } else if (p !== s) return undefined;
  }
  return pattern.length === segs.length ? params : undefined;
}
