/**
 * The inbound routes of the SMS providers, each verify → parse → dispatch:
 *
 * - `POST /nexus/v3/channels/{channelId}/messages|receipts|media`: the third-party messaging API
 *   (Async). The channel names the tenant; `x-ccid` must name the same one; `X-Hub-Signature` is
 *   checked with the channel's API secret.
 * - `POST /nexus/v3/sms/message`, `POST /nexus/v3/sms/receipt`: the aggregation service (Portico),
 *   HTTP Basic with the ccid as user name and an API key of that tenant (or a cluster key) as
 *   password, holding `nexus:sms:inbound` (granted by `nexus:*` and `nexus:cluster:*`).
 * - `POST /nexus/v3/sms/kaleyra/{ccid}`: Kaleyra callbacks, HTTP Basic with the tenant's mGageSMS
 *   credentials.
 * - `POST /nexus/v3/sms/twilio/{ccid}`: Twilio messages and status callbacks, `X-Twilio-Signature`
 *   over the public URL (`nexus.fqdn`, else the URL of the request itself).
 *
 * Nothing is stored before the request verifies; a refused one is a 401 with a catalog code.
 *
 * And one read: `GET /nexus/v3/sms/{ccid}/conversations/{conversationId}/deliveries`, the delivery
 * state of each SMS of a conversation (`nexus:interactions:read`), for consoles that (re)join.
 */
import { randomUUID } from 'node:crypto';
import { channelByChannelId } from '../../gateway/channels/store.js';
import type { ChannelRecord } from '../../gateway/channels/types.js';
import { PERMISSIONS } from '../../gateway/auth/permissions.js';
import type { GatewayDeps, RouteModule } from '../../gateway/deps.js';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import type { HttpContext } from '../../shared/http/types.js';
import type { SmsProvider } from '../sdk.js';
import { type InboundEvent, PluginError } from '../types.js';
import { asyncPath } from './async.js';
import { SERVICE_OF, SmsChannels, publicBase } from './channels.js';
import { basicCredentials } from './signatures.js';

/** What an inbound SMS webhook's API key must hold (Portico): granted by `nexus:*` and `nexus:cluster:*`. */
export const SMS_INBOUND_PERMISSION = 'nexus:sms:inbound';

const CCID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';
const MEDIA_LIMIT = 5 * 1024 * 1024;

/** A plugin's refusal or failure as the catalog error a provider should see. */
function asAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof PluginError) {
    if (err.status === 401) return new AppError('INVALID_SIGNATURE', `${err.message}.`);
    if (err.status === 400) return new AppError('SMS_INBOUND_INVALID', `${err.message}.`);
    if (!err.retryable) return new AppError('SMS_PROVIDER_NOT_PROVISIONED', `${err.message}.`);
    return new AppError('SMS_PROVIDER_UNAVAILABLE', undefined, undefined, { cause: err });
  }
  return new AppError('SMS_PROVIDER_UNAVAILABLE', undefined, undefined, { cause: err });
}

function ccidParam(v: string | undefined): string {
  if (!v || !CCID_RE.test(v))
    throw new AppError('VALIDATION_FAILED', 'ccid is not a valid contact center id.', { field: 'ccid' });
  return v;
}

/** The URL the request was made to, as the provider saw it (`nexus.fqdn` when set). */
function publicUrl(ctx: HttpContext, base: string | undefined): { url: string; base: string } {
  const host = ctx.headers['x-forwarded-host'] ?? ctx.headers.host ?? 'localhost';
  const proto = (ctx.headers['x-forwarded-proto'] ?? 'http').split(',')[0].trim();
  const own = `${proto}://${host.split(',')[0].trim()}`;
  const b = base ?? own;
  const qs = ctx.query.toString();
  return { url: `${b}${ctx.path}${qs ? `?${qs}` : ''}`, base: b };
}

/** `genesys://nexus/<mediaId>` (an uploaded file) → where the tenant's agents fetch it. */
export function mediaUrl(ccid: string, url: string): string {
  const m = /^genesys:\/\/nexus\/([0-9a-f-]{36})$/i.exec(url);
  return m ? `/nexus/v3/sms/${encodeURIComponent(ccid)}/media/${m[1]}` : url;
}

/** Types a browser may show inline; anything else is a download (no HTML on the gateway's origin). */
const INLINE = /^(image\/(png|jpeg|gif|webp)|audio\/[\w.+-]+|video\/[\w.+-]+|application\/pdf)$/i;

export const smsRoutes: RouteModule = (router: Router, deps: GatewayDeps) => {
  const log = deps.log.child({ component: 'sms' });
  const sms = new SmsChannels({
    db: deps.db,
    chat: deps.chat,
    plugins: deps.plugins,
    services: deps.services,
    kv: () => deps.state.kv,
    fqdn: deps.config.fqdn,
    redirectProtocol: deps.config.redirectProtocol,
    log,
  });
  deps.plugins.onStart((rt) => sms.register(rt));
  const fqdnBase = publicBase(deps.config.fqdn, deps.config.redirectProtocol);

  async function provider(ccid: string, service: string): Promise<SmsProvider> {
    try {
      return await deps.plugins.host.instance(ccid, service, 'sms');
    } catch (err) {
      throw asAppError(err);
    }
  }

  async function parse(p: SmsProvider, ctx: HttpContext): Promise<InboundEvent[]> {
    if (!p.parseInbound)
      throw new AppError('SMS_PROVIDER_NOT_PROVISIONED', 'This provider takes no inbound requests.');
    const where = publicUrl(ctx, fqdnBase);
    try {
      const events = await p.parseInbound({
        method: ctx.method,
        url: where.url,
        headers: ctx.headers,
        rawBody: ctx.rawBody,
        body: ctx.body,
      });
      sms.sawRequest(where.base);
      return events;
    } catch (err) {
      const e = asAppError(err);
      if (e.errorName === 'INVALID_SIGNATURE')
        ctx.log.info({ path: ctx.path, reason: e.message }, 'inbound SMS request refused');
      throw e;
    }
  }

  /** The tenant's channel for a sender id, or SMS_CHANNEL_NOT_FOUND (another tenant's is not found either). */
  async function channelOf(ccid: string, channelId: string): Promise<ChannelRecord> {
    const ch = await channelByChannelId(deps.db, channelId);
    if (!ch || ch.ccid !== ccid || ch.channelType !== 'sms')
      throw new AppError('SMS_CHANNEL_NOT_FOUND', undefined, { field: 'channelId' });
    return ch;
  }

  /** Hands verified events to the channels; answers what became of each. */
  async function dispatch(ccid: string, service: string, events: InboundEvent[]) {
    const results: Array<Record<string, unknown>> = [];
    for (const ev of events) {
      if (ev.type === 'receipt') {
        const r = await sms.receiveReceipt(ccid, service, ev);
        results.push({ providerMessageId: ev.providerMessageId, state: ev.state, matched: r.matched });
        continue;
      }
      const channel = await channelOf(ccid, ev.channelId);
      if (ev.media) ev.media = ev.media.map((m) => ({ ...m, url: mediaUrl(ccid, m.url) }));
      const expected = await sms.serviceFor(channel);
      if (expected !== service)
        throw new AppError(
          'SMS_CHANNEL_PROVIDER_MISMATCH',
          `Channel ${channel.channelId} is served by ${expected}.`,
        );
      const r = await sms.receiveMessage(channel, service, ev);
      results.push({
        providerMessageId: ev.providerMessageId,
        duplicate: r.duplicate,
        ...(r.conversationId ? { conversationId: r.conversationId } : {}),
        ...(r.messageId ? { messageId: r.messageId } : {}),
      });
    }
    return results;
  }

  // ---- Async: the third-party messaging API ----------------------------------------------------

  async function asyncTenant(ctx: HttpContext): Promise<{ channel: ChannelRecord; ccid: string }> {
    const where = asyncPath(ctx.path);
    if (!where) throw new AppError('NOT_FOUND');
    const ch = await channelByChannelId(deps.db, where.channelId);
    if (!ch || ch.channelType !== 'sms')
      throw new AppError('SMS_CHANNEL_NOT_FOUND', undefined, { field: 'channelId' });
    const named = ctx.headers['x-ccid']?.trim();
    if (!named) throw new AppError('CCID_REQUIRED', 'Send the tenant of the channel in the x-ccid header.');
    // The channel's tenant and the one named must agree; which one it is, is not told.
    if (named !== ch.ccid)
      throw new AppError('INVALID_SIGNATURE', 'x-ccid does not name the tenant of this channel.');
    return { channel: ch, ccid: ch.ccid };
  }

  for (const kind of ['messages', 'receipts'] as const) {
    router.post(
      `/nexus/v3/channels/:channelId/${kind}`,
      async (ctx) => {
        const { ccid } = await asyncTenant(ctx);
        const events = await parse(await provider(ccid, SERVICE_OF.Async), ctx);
        return { data: { results: await dispatch(ccid, SERVICE_OF.Async, events) } };
      },
      { body: ['json', 'raw'] },
    );
  }

  router.post(
    '/nexus/v3/channels/:channelId/media',
    async (ctx) => {
      const { ccid, channel } = await asyncTenant(ctx);
      await parse(await provider(ccid, SERVICE_OF.Async), ctx);
      const type = ctx.headers['content-type'] ?? '';
      if (!/^multipart\/form-data/i.test(type))
        throw new AppError(
          'SMS_INBOUND_INVALID',
          'Upload the file as multipart/form-data in the field "file".',
          {
            field: 'file',
          },
        );
      let file: FormDataEntryValue | null;
      try {
        file = (
          await new Response(new Uint8Array(ctx.rawBody), { headers: { 'content-type': type } }).formData()
        ).get('file');
      } catch {
        throw new AppError('SMS_INBOUND_INVALID', 'The multipart body does not parse.', { field: 'file' });
      }
      if (!file || typeof file === 'string')
        throw new AppError('SMS_INBOUND_INVALID', 'The multipart field "file" must be a file.', {
          field: 'file',
        });
      const content = Buffer.from(await file.arrayBuffer());
      if (content.length === 0 || content.length > MEDIA_LIMIT)
        throw new AppError('SMS_INBOUND_INVALID', `The file must hold 1 to ${MEDIA_LIMIT} bytes.`, {
          field: 'file',
        });
      const mediaId = randomUUID();
      const filename = (file.name || 'file').slice(0, 200);
      const mimetype = (file.type || 'application/octet-stream').slice(0, 100);
      await sms.store.storeMedia({
        id: mediaId,
        ccid,
        channelId: channel.channelId,
        filename,
        mimetype,
        content,
      });
      return {
        data: { mediaId, url: `genesys://nexus/${mediaId}`, filename, mimetype, length: content.length },
      };
    },
    { body: ['raw'], bodyLimit: MEDIA_LIMIT + 64 * 1024 },
  );

  // ---- Portico: the SMS aggregation service -----------------------------------------------------

  async function porticoTenant(ctx: HttpContext): Promise<string> {
    const creds = basicCredentials(ctx.headers.authorization);
    if (!creds)
      throw new AppError(
        'UNAUTHENTICATED',
        'Send HTTP Basic credentials: the ccid as user name, an API key as password.',
      );
    const ccid = ccidParam(creds.user);
    // The API key check of every other route, with the key taken from the Basic password.
    const keyed = Object.create(ctx, {
      headers: { value: { ...ctx.headers, 'x-api-key': creds.password, 'x-ccid': ccid }, enumerable: true },
    }) as HttpContext;
    const access = await deps.auth.require(keyed, { permission: SMS_INBOUND_PERMISSION, ccid, admin: false });
    return access.ccid;
  }

  for (const path of ['/nexus/v3/sms/message', '/nexus/v3/sms/receipt']) {
    router.post(
      path,
      async (ctx) => {
        const ccid = await porticoTenant(ctx);
        const events = await parse(await provider(ccid, SERVICE_OF.Portico), ctx);
        return { data: { results: await dispatch(ccid, SERVICE_OF.Portico, events) } };
      },
      { body: ['form', 'json', 'raw'] },
    );
  }

  // ---- Kaleyra and Twilio: per-tenant callback URLs --------------------------------------------

  router.post(
    '/nexus/v3/sms/kaleyra/:ccid',
    async (ctx) => {
      const ccid = ccidParam(ctx.params.ccid);
      const events = await parse(await provider(ccid, SERVICE_OF.mGage), ctx);
      return { data: { results: await dispatch(ccid, SERVICE_OF.mGage, events) } };
    },
    { body: ['json', 'form', 'raw'] },
  );

  router.post(
    '/nexus/v3/sms/twilio/:ccid',
    async (ctx) => {
      const ccid = ccidParam(ctx.params.ccid);
      const events = await parse(await provider(ccid, SERVICE_OF.Twilio), ctx);
      await dispatch(ccid, SERVICE_OF.Twilio, events);
      // Twilio takes TwiML; an empty Response sends no automatic reply.
      return { raw: TWIML_EMPTY, contentType: 'text/xml' };
    },
    { body: ['form', 'raw'] },
  );

  // ---- delivery states, for agent consoles that (re)join and for operators -------------------

  router.get('/nexus/v3/sms/:ccid/conversations/:conversationId/deliveries', async (ctx) => {
    const ccid = ccidParam(ctx.params.ccid);
    await deps.auth.require(ctx, { permission: PERMISSIONS.interactionsRead, ccid });
    const conversationId = ctx.params.conversationId ?? '';
    if (!(await deps.chat.get(conversationId, ccid))) throw new AppError('CONVERSATION_NOT_FOUND');
    const rows = await sms.store.listOutbound(ccid, conversationId);
    return {
      data: {
        deliveries: rows.map((r) => ({
          messageId: r.messageId,
          seq: r.seq,
          service: r.service,
          state: r.state,
          ...(r.providerMessageId ? { providerMessageId: r.providerMessageId } : {}),
          ...(r.error ? { error: r.error } : {}),
          updated: r.updated,
        })),
      },
    };
  });

  // An uploaded file, for the tenant's agents (agent token) or a key that reads interactions.
  router.get('/nexus/v3/sms/:ccid/media/:mediaId', async (ctx) => {
    const ccid = ccidParam(ctx.params.ccid);
    const bearer = /^Bearer\s+(\S+)$/i.exec(ctx.headers.authorization ?? '')?.[1];
    const agent = bearer ? await deps.chat.tokens.verifyAgentToken(bearer).catch(() => undefined) : undefined;
    if (!agent || agent.ccid !== ccid)
      await deps.auth.require(ctx, { permission: PERMISSIONS.interactionsRead, ccid });
    const file = await sms.store.media(ccid, ctx.params.mediaId ?? '');
    if (!file) throw new AppError('NOT_FOUND', 'No such media.');
    const inline = INLINE.test(file.mimetype);
    const name = file.filename.replace(/[^\w.-]/g, '_').slice(0, 100) || 'file';
    return {
      raw: Buffer.from(file.content),
      contentType: inline ? file.mimetype : 'application/octet-stream',
      headers: {
        'content-disposition': `${inline ? 'inline' : 'attachment'}; filename="${name}"`,
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
        'cache-control': 'private, max-age=3600',
      },
    };
  });

  log.debug('SMS provider routes registered');
};
