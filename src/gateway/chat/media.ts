/**
 * A chat customer's voice message: `POST /nexus/v3/chat/sessions/{sessionId}/media` with the
 * session's client token (`x-nexus-client-key`), the recording as the raw body and its audio
 * `Content-Type`. Answers `{ mediaId, url, mediaType, name, length }`; the customer then sends a
 * `File` message whose `content.attachments[0]` is `{ url, mediaType, name }`.
 *
 * The file goes to the gateway's media table (`sms_media`), so that `url` is the media route the
 * tenant's agents and athena already read (`GET /nexus/v3/sms/{ccid}/media/{id}`): a message's
 * 16 KB content could not hold the audio itself. Uploads share the session's message budget
 * (`chat.socketMessageBurst`, `chat.socketMessagesPerSecond`), and nothing is stored unless the
 * whole request is accepted.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../../shared/errors.js';
import type { Router } from '../../shared/http/router.js';
import { SmsStore } from '../../plugins/sms/store.js';
import type { GatewayDeps, RouteModule } from '../deps.js';
import { sessionOf, spendMessageBudget } from './routes.js';

/** What a browser records or a phone sends as a voice note; the media route serves these inline. */
const AUDIO_TYPES: Record<string, string> = {
  'audio/webm': 'webm',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/wav': 'wav',
  'audio/wave': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/flac': 'flac',
  'audio/amr': 'amr',
};

/**
 * `audio/webm;codecs=opus` → the media type for the message's attachment (lower-case, parameters
 * kept), the bare type the media route serves (it serves only a bare `audio/*` inline) and an extension.
 */
export function audioMediaType(header: string | undefined): { mediaType: string; type: string; ext: string } {
  const [head, ...params] = (header ?? '').split(';').map((p) => p.trim());
  const type = head.toLowerCase();
  const ext = AUDIO_TYPES[type];
  const kept = params
    .filter((p) => /^[\w.+-]+=("[\w.,+ -]*"|[\w.,+-]+)$/.test(p))
    .map((p) => p.toLowerCase());
  if (!ext || kept.length !== params.length || header!.length > 100) {
    throw new AppError('CHAT_MEDIA_NOT_AUDIO', undefined, { field: 'content-type' });
  }
  return { mediaType: [type, ...kept].join(';'), type, ext };
}

/** The file name the agent sees: `?name=` without path or odd characters, else `voice-message.<ext>`. */
function fileName(raw: string | null, ext: string): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const clean = base
    .replace(/[^\w. -]/g, '_')
    .trim()
    .slice(0, 100);
  return clean && clean !== '.' && clean !== '..' ? clean : `voice-message.${ext}`;
}

export const chatMediaRoutes: RouteModule = (router: Router, deps: GatewayDeps) => {
  const chat = deps.chat;
  const media = new SmsStore(deps.db);
  const limit = deps.config.chat.maxMediaBytes;

  router.post(
    '/nexus/v3/chat/sessions/:sessionId/media',
    async (ctx) => {
      const claims = await sessionOf(chat, ctx);
      const row = await chat.session(claims.sessionId);
      if (!row || row.ccid !== claims.ccid) throw new AppError('SESSION_NOT_FOUND');
      if (row.ended_at) throw new AppError('SESSION_ENDED');
      const { mediaType, type, ext } = audioMediaType(ctx.headers['content-type']);
      const content = ctx.rawBody;
      if (content.length === 0) throw new AppError('CHAT_MEDIA_EMPTY', undefined, { field: 'body' });
      // The server refuses a larger body before reading it; a chunked one is counted as it comes.
      if (content.length > limit)
        throw new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`);
      // An upload spends the session's message budget, as the File message that follows it does.
      await spendMessageBudget(deps, claims.sessionId);
      const mediaId = randomUUID();
      const name = fileName(ctx.query.get('name'), ext);
      await media.storeMedia({
        id: mediaId,
        ccid: claims.ccid,
        // Not an SMS channel: the chat session the file came from, for an operator reading the table.
        channelId: `chat:${claims.sessionId}`,
        filename: name,
        mimetype: type,
        content: Buffer.from(content),
      });
      ctx.log.info(
        { sessionId: claims.sessionId, mediaId, mediaType, length: content.length },
        'chat media uploaded',
      );
      return {
        data: {
          mediaId,
          url: `/nexus/v3/sms/${encodeURIComponent(claims.ccid)}/media/${mediaId}`,
          mediaType,
          name,
          length: content.length,
        },
      };
    },
    { body: ['raw'], bodyLimit: limit },
  );
};
