/**
 * A message's attachments in the console: a customer's photo (MMS), a voice message (widget or
 * MMS), a bot's image. The gateway's own media route needs the agent's token, which a plain link
 * or `<img src>` cannot send, so those files are fetched with it and shown from a blob URL: audio
 * with a player, images inline, anything else as a download. A `data:` URL is decoded in place.
 * A link elsewhere (a provider's, a bot's) is only a link: opening it is the agent's choice, and
 * nothing is loaded from another host by the console itself. Only http(s) links are made links.
 *
 * Elements are kept per message and attachment, so the transcript's re-renders neither fetch again
 * nor stop a player.
 */
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { clear, h } from '../shared/dom.js';

export type Attachment = NonNullable<NonNullable<ChatMessage['content']>['attachments']>[number];

/** The gateway's media route (`/nexus/v3/sms/{ccid}/media/{id}`), as messages carry it. */
const MEDIA_PATH = /^\/nexus\/v3\/sms\/[^/?#]+\/media\/[^/?#]+$/;
const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*?)(;base64)?,(.*)$/is;

export interface AttachmentSource {
  /** The gateway's base URL (the console's own origin when empty). */
  gateway: string;
  /** Fetches a file of the gateway's media route with the agent's credentials. */
  fetchMedia(path: string): Promise<Blob>;
}

export class Attachments {
  private readonly views = new Map<string, HTMLElement>();
  private readonly urls: string[] = [];

  constructor(private readonly source: AttachmentSource) {}

  /** The attachments of `m`, as elements (the same ones on every call). */
  of(m: ChatMessage): HTMLElement[] {
    const list = m.content?.attachments;
    if (!Array.isArray(list)) return [];
    return list.slice(0, 10).map((a, i) => {
      const key = `${m.id}:${i}`;
      let el = this.views.get(key);
      if (!el) {
        el = this.view(a);
        this.views.set(key, el);
      }
      return el;
    });
  }

  /** Frees the blob URLs (the pane is closed). */
  dispose(): void {
    for (const u of this.urls.splice(0)) URL.revokeObjectURL(u);
    this.views.clear();
  }

  private view(a: Attachment): HTMLElement {
    const name = typeof a?.name === 'string' && a.name.trim() ? a.name.trim().slice(0, 120) : '';
    const url = typeof a?.url === 'string' ? a.url : '';
    const declared = typeof a?.mediaType === 'string' ? a.mediaType : '';
    const box = h('div', { class: 'attachment' });
    const path = this.mediaPath(url);
    if (path) {
      box.append(h('span', { class: 'meta' }, `Loading ${describe(declared, name)}…`));
      this.source.fetchMedia(path).then(
        (blob) => this.show(box, blob, declared || blob.type, name),
        () => {
          clear(box);
          box.append(
            h('span', { class: 'meta error' }, `${capital(describe(declared, name))} could not be loaded.`),
          );
        },
      );
      return box;
    }
    const data = DATA_URL.exec(url);
    if (data) {
      const blob = decodeData(data);
      if (blob) this.show(box, blob, declared || blob.type, name);
      else
        box.append(h('span', { class: 'meta error' }, `${capital(describe(declared, name))} is unreadable.`));
      return box;
    }
    if (/^https?:\/\//i.test(url)) {
      box.append(
        h(
          'a',
          { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'file' },
          name || `${capital(describe(declared, ''))} (opens ${hostOf(url)})`,
        ),
      );
      return box;
    }
    box.append(h('span', { class: 'meta' }, `${capital(describe(declared, name))} (no link)`));
    return box;
  }

  private show(box: HTMLElement, blob: Blob, type: string, name: string): void {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    clear(box);
    const kind = type.split('/')[0]?.toLowerCase();
    if (kind === 'audio') {
      box.dataset.kind = 'audio';
      box.append(
        h('audio', { controls: true, preload: 'metadata', src: url, 'aria-label': name || 'Voice message' }),
      );
    } else if (kind === 'image') {
      box.dataset.kind = 'image';
      box.append(h('img', { src: url, alt: name || 'Image from the conversation', loading: 'lazy' }));
    } else {
      box.dataset.kind = 'file';
    }
    // Always a way to keep it: the file under its name.
    box.append(
      h(
        'a',
        { href: url, download: name || 'attachment', class: 'file' },
        `Download ${name || describe(type, '')}`,
      ),
    );
  }

  /** The media route's path when `url` points at this gateway's, else undefined. */
  private mediaPath(url: string): string | undefined {
    if (MEDIA_PATH.test(url)) return url;
    try {
      const base = this.source.gateway || location.origin;
      const u = new URL(url, base);
      if (u.origin === new URL(base, location.href).origin && MEDIA_PATH.test(u.pathname) && !u.search)
        return u.pathname;
    } catch {
      // not a URL
    }
    return undefined;
  }
}

function describe(type: string, name: string): string {
  if (name) return name;
  const kind = type.split('/')[0]?.toLowerCase();
  return kind === 'audio' ? 'voice message' : kind === 'image' ? 'image' : 'attachment';
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'another site';
  }
}

function decodeData(m: RegExpExecArray): Blob | undefined {
  const [, type, , base64, body] = m;
  try {
    if (!base64) return new Blob([decodeURIComponent(body)], { type: type || 'text/plain' });
    const bin = atob(body.replace(/\s+/g, ''));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], { type: type || 'application/octet-stream' });
  } catch {
    return undefined;
  }
}
