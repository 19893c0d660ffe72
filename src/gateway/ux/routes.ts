/**
 * `/ux/*`: the widget script sites embed, the agent console pages (`/ux/comm`, `/ux/conv`) built to
 * live in the agent desktop's iframe, and the demo (`/ux/demo`, on when `nexus.ux.demo` allows).
 */
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext, RawReply } from '../../shared/http/types.js';
import type { GatewayDeps } from '../deps.js';
import { AssetStore } from './assets.js';
import { DemoProvisioner, demoEnabled, inProcessCaller } from './demo.js';
import { pageHeaders, parseSourceList, tokenSenders } from './headers.js';
import { consolePage, demoPage, demoSitePage } from './pages.js';

export interface UxOptions {
  /** Where the bundles are; default `<package>/dist/web`. */
  assets?: AssetStore;
}

export function uxRoutes(router: Router, deps: GatewayDeps, opts: UxOptions = {}): void {
  const assets = opts.assets ?? new AssetStore(deps.config.ux.assetsDir || undefined);
  const frameAncestors = parseSourceList(deps.config.ux.frameAncestors, 'nexus.ux.frameAncestors');
  const senders = (ctx: HttpContext) =>
    tokenSenders(
      deps.config.ux.parentOrigins,
      frameAncestors,
      ctx.query.getAll('parentorigin').slice(0, 4),
    ).join(',');
  const demoOn = demoEnabled(deps.config);
  const demo = new DemoProvisioner(
    inProcessCaller(router, deps.adminToken, deps.log.child({ component: 'ux-demo' })),
    deps.log.child({ component: 'ux-demo' }),
  );

  const page = (html: string, headers: Record<string, string>): RawReply => ({
    raw: html,
    contentType: 'text/html; charset=utf-8',
    headers,
  });

  const asset = (ctx: HttpContext, name: string, extra: Record<string, string> = {}): RawReply => {
    if (!assets.has(name)) throw new AppError('NOT_FOUND');
    const a = assets.get(name);
    const headers = {
      etag: a.etag,
      'cache-control': 'public, max-age=300, must-revalidate',
      'x-content-type-options': 'nosniff',
      ...extra,
    };
    if (ctx.headers['if-none-match'] === a.etag)
      return { status: 304, raw: '', contentType: a.contentType, headers };
    return { raw: a.body, contentType: a.contentType, headers };
  };

  // Sites on any origin embed the widget: let them load it (CORP) without exposing anything else.
  router.get('/ux/widget.js', (ctx) =>
    asset(ctx, 'widget.js', { 'cross-origin-resource-policy': 'cross-origin' }),
  );
  router.get('/ux/assets/:file', (ctx) => asset(ctx, ctx.params.file));

  const consoleHeaders = pageHeaders(frameAncestors);
  router.get('/ux/comm', (ctx) => {
    assets.get('console.js');
    return page(consolePage('comm', senders(ctx)), consoleHeaders);
  });
  router.get('/ux/conv', (ctx) => {
    const iid = ctx.query.get('iid');
    if (!iid || iid.length > 200) {
      throw new AppError('VALIDATION_FAILED', 'The conversation page needs ?iid=<interaction id>.', {
        field: 'iid',
      });
    }
    assets.get('console.js');
    return page(consolePage('conv', senders(ctx)), consoleHeaders);
  });

  const requireDemo = () => {
    if (!demoOn) throw new AppError('UX_DEMO_DISABLED');
  };
  // The demo frames its own pages only.
  const demoHeaders = pageHeaders("'self'");

  router.get('/ux/demo', () => {
    requireDemo();
    assets.get('demo.js');
    return page(demoPage(), demoHeaders);
  });

  router.get('/ux/demo/site', async () => {
    requireDemo();
    assets.get('widget.js');
    const t = await demo.get();
    return page(demoSitePage({ apiKey: t.apiKey, endpoint: t.endpoint }), demoHeaders);
  });

  // The demo agent's token, for the demo page to hand to the console by postMessage. Only the
  // gateway's own pages may ask (the Origin of a cross-site fetch would not match).
  router.post(
    '/ux/demo/session',
    async (ctx) => {
      requireDemo();
      if (!sameOrigin(ctx.headers.origin, ctx.headers.host)) {
        throw new AppError('FORBIDDEN', 'The demo session is only given to the demo page itself.');
      }
      const t = await demo.get();
      return {
        data: {
          ccid: t.ccid,
          customername: t.customername,
          endpoint: t.endpoint,
          queue: t.queue,
          agentId: t.agentId,
          agentName: t.agentName,
          agentToken: t.agentToken,
        },
        headers: { 'cache-control': 'no-store' },
      };
    },
    { body: ['json', 'form', 'raw'] },
  );
}

function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
