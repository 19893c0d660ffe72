/**
 * The widget's DOM, in a shadow root so that the host page's styles and ours never meet. Keyboard
 * operable (Enter sends, Shift+Enter breaks a line, Escape minimises, focus returns to the launcher),
 * a `role="log"` transcript that screen readers announce, labelled controls.
 */
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { clear, formatTime, h, stickToBottom } from '../shared/dom.js';
import type { ChatClient, ChatStatus, PendingSend } from './chat-client.js';
import { canRecord, clock, MAX_VOICE_SECONDS, VoiceRecorder } from './recorder.js';
import css from './widget.css';

export interface WidgetText {
  title: string;
  subtitle: string;
  launcher: string;
}

const STATUS_TEXT: Record<ChatStatus, string> = {
  idle: '',
  connecting: 'Connecting…',
  live: '',
  polling: 'Connected (limited mode)',
  offline: 'Offline: messages will be sent when the connection is back',
  ended: 'This chat has ended. Write again to start a new one.',
};

export class WidgetUi {
  readonly host: HTMLElement;
  private readonly root: ShadowRoot;
  private readonly launcher: HTMLButtonElement;
  private readonly badge: HTMLSpanElement;
  private readonly panel: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly statusEl: HTMLElement;
  private readonly typingEl: HTMLElement;
  /** "You're in the queue…" while the conversation waits for an agent; a live region. */
  private readonly queueEl: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly endButton: HTMLButtonElement;
  private unread = 0;
  private isOpen = false;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  /** The microphone toggle (only where the browser can record) and its recording bar. */
  private readonly micButton: HTMLButtonElement | undefined;
  private readonly recorderBar: HTMLElement;
  private readonly recorderTime: HTMLElement;
  private readonly recorder = new VoiceRecorder();
  private recordTimer: ReturnType<typeof setInterval> | undefined;
  /** This page's own voice messages by clientMessageId: a player on a local blob URL, kept across renders. */
  private readonly players = new Map<string, HTMLAudioElement>();

  constructor(
    private readonly chat: ChatClient,
    private readonly text: WidgetText,
    private readonly onOpenChange: (open: boolean) => void,
  ) {
    this.host = h('div', { 'data-nexus-widget': '' });
    this.root = this.host.attachShadow({ mode: 'open' });
    adoptStyles(this.root, css);

    this.badge = h('span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
    this.launcher = h(
      'button',
      {
        class: 'launcher',
        type: 'button',
        'aria-expanded': 'false',
        'aria-controls': 'nx-panel',
        onclick: () => this.setOpen(!this.isOpen),
      },
      bubbleIcon(),
      h('span', { class: 'launcher-text' }, text.launcher),
      this.badge,
    );

    this.statusEl = h('p', { class: 'status', role: 'status' });
    this.log = h('ol', {
      class: 'log',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': 'Conversation',
      tabindex: '0',
    });
    this.typingEl = h('p', { class: 'typing', 'aria-live': 'polite' });
    // Its own live region, always in the page (a region shown at the moment it gets its text may go
    // unannounced), set only when the wait starts or its text changes, so it is announced once
    // (the log re-renders and is not relied on for that).
    this.queueEl = h('p', { class: 'queue', role: 'status', 'aria-live': 'polite' });
    this.input = h('textarea', {
      id: 'nx-input',
      rows: '1',
      maxlength: '4000',
      placeholder: 'Write a message…',
      autocomplete: 'off',
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      },
      oninput: () => {
        this.autosize();
        this.chat.typing(this.input.value.length > 0);
      },
    });
    this.endButton = h(
      'button',
      { class: 'text-button', type: 'button', onclick: () => void this.endChat() },
      'End chat',
    );

    this.micButton = canRecord()
      ? h(
          'button',
          {
            class: 'mic',
            type: 'button',
            'aria-label': 'Record a voice message',
            'aria-pressed': 'false',
            onclick: () => void (this.recorder.recording ? this.stopRecording(true) : this.startRecording()),
          },
          micIcon(),
        )
      : undefined;
    this.recorderTime = h('span', { class: 'rec-time' }, '0:00');
    this.recorderBar = h(
      'div',
      { class: 'recorder', role: 'group', 'aria-label': 'Recording a voice message', hidden: true },
      h('span', { class: 'rec-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'rec-label' }, 'Recording '),
      this.recorderTime,
      h('span', { class: 'rec-max' }, ` / ${clock(MAX_VOICE_SECONDS * 1000)}`),
      h(
        'button',
        { class: 'text-button rec-cancel', type: 'button', onclick: () => void this.stopRecording(false) },
        'Cancel',
      ),
      h(
        'button',
        { class: 'text-button rec-send', type: 'button', onclick: () => void this.stopRecording(true) },
        'Stop and send',
      ),
    );

    this.panel = h(
      'section',
      {
        id: 'nx-panel',
        class: 'panel',
        role: 'dialog',
        'aria-modal': 'false',
        'aria-labelledby': 'nx-title',
        hidden: true,
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            this.setOpen(false);
          }
        },
      },
      h(
        'header',
        { class: 'head' },
        h('div', { class: 'avatar', 'aria-hidden': 'true' }, bubbleIcon()),
        h('div', { class: 'titles' }, h('h2', { id: 'nx-title' }, text.title), h('p', null, text.subtitle)),
        this.endButton,
        h(
          'button',
          {
            class: 'icon-button',
            type: 'button',
            'aria-label': 'Minimise chat',
            onclick: () => this.setOpen(false),
          },
          h('span', { 'aria-hidden': 'true' }, '–'),
        ),
      ),
      this.statusEl,
      this.queueEl,
      this.log,
      this.typingEl,
      this.recorderBar,
      h(
        'form',
        {
          class: 'composer',
          onsubmit: (e: Event) => {
            e.preventDefault();
            this.submit();
          },
        },
        h('label', { for: 'nx-input', class: 'sr-only' }, 'Your message'),
        this.input,
        this.micButton,
        h('button', { class: 'send', type: 'submit', 'aria-label': 'Send message' }, sendIcon()),
      ),
    );
    this.root.append(h('div', { class: 'nx' }, this.panel, this.launcher));

    chat.on('message', (m) => {
      if (m.from.type !== 'Customer') {
        clearTimeout(this.typingTimer);
        this.typingEl.textContent = '';
      }
      this.render();
      if (!this.isOpen && m.from.type !== 'Customer') {
        this.unread++;
        this.updateBadge();
      }
    });
    chat.on('outbox', () => this.render());
    chat.on('status', (s) => this.showStatus(s));
    chat.on('typing', (p) => {
      if (p.from.type === 'Customer') return;
      clearTimeout(this.typingTimer);
      this.typingEl.textContent = p.typing ? `${p.from.nickname || 'Agent'} is typing…` : '';
      if (p.typing) {
        this.typingTimer = setTimeout(() => {
          this.typingEl.textContent = '';
        }, 6000);
      }
    });
    chat.on('error', (e) => {
      this.statusEl.textContent = e.message;
    });
    chat.on('ended', () => this.render());
    this.render();
    this.showStatus(chat.connection);
  }

  get open(): boolean {
    return this.isOpen;
  }

  setOpen(open: boolean): void {
    if (open === this.isOpen) return;
    this.isOpen = open;
    this.panel.hidden = !open;
    this.launcher.setAttribute('aria-expanded', String(open));
    this.launcher.classList.toggle('is-open', open);
    if (open) {
      this.unread = 0;
      this.updateBadge();
      this.log.scrollTop = this.log.scrollHeight;
      this.input.focus();
    } else if (this.root.activeElement) {
      // Focus would otherwise fall to <body>: put it back where the customer opened the chat.
      this.launcher.focus();
    }
    this.onOpenChange(open);
  }

  /** `payload`: a chosen quick reply's, for the bot; the customer's message reads `text`, its title. */
  send(text: string, payload?: string): void {
    if (this.chat.connection === 'ended') {
      this.chat.restart();
      this.render();
    }
    this.chat.send(text, payload);
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    this.send(text);
    this.input.value = '';
    this.autosize();
    this.chat.typing(false);
    this.input.focus();
  }

  private async startRecording(): Promise<void> {
    if (!this.micButton || this.recorder.recording) return;
    this.micButton.disabled = true;
    try {
      await this.recorder.start();
    } catch (err) {
      this.statusEl.textContent = `The microphone is not available: ${(err as Error).message || 'refused'}.`;
      this.micButton.disabled = false;
      return;
    }
    this.micButton.disabled = false;
    this.micButton.setAttribute('aria-pressed', 'true');
    this.micButton.setAttribute('aria-label', 'Stop recording and send');
    this.micButton.classList.add('is-recording');
    this.recorderBar.hidden = false;
    this.recorderTime.textContent = clock(0);
    this.recordTimer = setInterval(() => {
      const ms = this.recorder.elapsedMs;
      this.recorderTime.textContent = clock(ms);
      if (ms >= MAX_VOICE_SECONDS * 1000) void this.stopRecording(true);
    }, 250);
    (this.recorderBar.querySelector('.rec-send') as HTMLButtonElement | null)?.focus();
  }

  /** `send`: upload the recording and send it; otherwise throw it away. */
  private async stopRecording(send: boolean): Promise<void> {
    if (!this.micButton || !this.recorder.recording) return;
    clearInterval(this.recordTimer);
    this.recorderBar.hidden = true;
    this.micButton.setAttribute('aria-pressed', 'false');
    this.micButton.setAttribute('aria-label', 'Record a voice message');
    this.micButton.classList.remove('is-recording');
    this.micButton.focus();
    if (!send) {
      this.recorder.cancel();
      return;
    }
    this.micButton.disabled = true;
    this.statusEl.textContent = 'Sending your voice message…';
    try {
      const r = await this.recorder.stop();
      if (this.chat.connection === 'ended') this.chat.restart();
      const url = URL.createObjectURL(r.audio);
      const player = h('audio', {
        controls: true,
        preload: 'metadata',
        src: url,
        'aria-label': 'Your voice message',
      });
      const p = await this.chat.sendVoice(r.audio, r.mediaType);
      this.players.set(p.clientMessageId, player);
      this.showStatus(this.chat.connection);
      this.render();
    } catch (err) {
      this.statusEl.textContent = `Your voice message was not sent: ${(err as Error).message}`;
    } finally {
      this.micButton.disabled = false;
    }
  }

  private async endChat(): Promise<void> {
    this.endButton.disabled = true;
    await this.chat.end();
    this.endButton.disabled = false;
    this.input.focus();
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
  }

  private showStatus(s: ChatStatus): void {
    this.statusEl.textContent = STATUS_TEXT[s];
    this.statusEl.dataset.state = s;
    this.endButton.hidden = !this.chat.hasSession;
  }

  private updateBadge(): void {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = String(this.unread);
    this.launcher.setAttribute(
      'aria-label',
      this.unread
        ? `${this.text.launcher} (${this.unread} new message${this.unread > 1 ? 's' : ''})`
        : this.text.launcher,
    );
  }

  private render(): void {
    stickToBottom(this.log, () => {
      clear(this.log);
      const messages = this.chat.messages();
      if (messages.length === 0 && this.chat.pending().length === 0) {
        this.log.append(h('li', { class: 'empty' }, 'Hi! How can we help you today?'));
      }
      const choose = (text: string, payload?: string) => this.send(text, payload);
      const player = (id: string | undefined) => (id ? this.players.get(id) : undefined);
      for (const m of messages) this.log.append(messageItem(m, choose, player));
      for (const p of this.chat.pending()) this.log.append(this.pendingItem(p));
      const last = messages[messages.length - 1];
      const replies = last?.from.type !== 'Customer' ? last?.content?.quickReplies : undefined;
      if (replies?.length) {
        this.log.append(
          h(
            'li',
            { class: 'replies' },
            ...replies.map((r) =>
              h(
                'button',
                { type: 'button', class: 'chip', onclick: () => this.send(r.text, r.payload) },
                r.text,
              ),
            ),
          ),
        );
      }
    });
    this.endButton.hidden = !this.chat.hasSession;
    this.showQueue();
  }

  /** Shows the queue notice while the last word on routing is "queued" and no agent has joined since. */
  private showQueue(): void {
    const messages = this.chat.messages();
    let waiting: ChatMessage | undefined;
    for (const m of messages) {
      if (isQueued(m)) waiting = m;
      else if (m.from.type === 'Agent' || (m.type === 'ParticipantJoined' && m.from.type !== 'Customer'))
        waiting = undefined;
    }
    const text = waiting && this.chat.connection !== 'ended' ? QUEUE_TEXT : '';
    if (this.queueEl.textContent !== text) this.queueEl.textContent = text;
  }

  private pendingItem(p: PendingSend): HTMLLIElement {
    return h(
      'li',
      { class: `msg mine ${p.failed ? 'failed' : 'pending'}`, 'data-client-id': p.clientMessageId },
      h('p', { class: 'bubble' }, p.text),
      p.attachment ? (this.players.get(p.clientMessageId) ?? null) : null,
      p.failed
        ? h(
            'p',
            { class: 'meta' },
            `Not sent: ${p.failed.message} `,
            h(
              'button',
              { type: 'button', class: 'text-button', onclick: () => this.chat.retry(p.clientMessageId) },
              'Retry',
            ),
            h(
              'button',
              { type: 'button', class: 'text-button', onclick: () => this.chat.discard(p.clientMessageId) },
              'Remove',
            ),
          )
        : h('p', { class: 'meta' }, 'Sending…'),
    );
  }
}

/** `choose`: a card's button was clicked (sent as its text, with its payload for the bot). */
function messageItem(
  m: ChatMessage,
  choose: (text: string, payload?: string) => void,
  player: (clientMessageId: string | undefined) => HTMLAudioElement | undefined,
): HTMLLIElement {
  const system = m.from.type === 'System' || (m.type !== 'Text' && m.type !== 'Rich' && m.type !== 'File');
  if (system) return h('li', { class: 'notice', 'data-seq': m.seq }, noticeText(m));
  const mine = m.from.type === 'Customer';
  return h(
    'li',
    { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': m.seq },
    mine
      ? null
      : h('p', { class: 'who' }, m.from.nickname || (m.from.type === 'Bot' ? 'Assistant' : 'Agent')),
    // A bot's quick replies or cards alone have no text: the chips or the cards are the message.
    m.text || !(m.content?.quickReplies?.length || m.content?.cards?.length)
      ? h('p', { class: 'bubble' }, m.text ?? '')
      : null,
    ...(mine ? [] : (m.content?.cards ?? []).map((c) => cardItem(c, choose))),
    // The customer's own voice message plays from the recording this page holds (the media route
    // is for agents); after a reload it reads as its text only.
    mine && m.type === 'File' ? (player(m.clientMessageId) ?? null) : null,
    ...(m.content?.attachments ?? []).map((a) =>
      /^https?:/.test(a.url)
        ? h(
            'a',
            { class: 'attachment', href: a.url, target: '_blank', rel: 'noopener noreferrer' },
            a.name || 'Attachment',
          )
        : null,
    ),
    h('p', { class: 'meta' }, h('span', { class: 'sr-only' }, mine ? 'You, ' : ''), formatTime(m.timestamp)),
  );
}

type Card = NonNullable<NonNullable<ChatMessage['content']>['cards']>[number];

const isWebUrl = (u: string | undefined): u is string => !!u && /^https?:\/\//i.test(u);

/** A bot's card: image, title, subtitle, and buttons (a link opens; any other is sent as a choice). */
function cardItem(c: Card, choose: (text: string, payload?: string) => void): HTMLElement {
  return h(
    'div',
    { class: 'card', role: 'group', 'aria-label': c.title },
    isWebUrl(c.imageUrl) ? h('img', { src: c.imageUrl, alt: '', loading: 'lazy' }) : null,
    h('p', { class: 'card-title' }, c.title),
    c.subtitle ? h('p', { class: 'card-subtitle' }, c.subtitle) : null,
    c.buttons?.length
      ? h(
          'div',
          { class: 'card-buttons' },
          ...c.buttons.map((b) =>
            b.url
              ? isWebUrl(b.url)
                ? h('a', { class: 'chip', href: b.url, target: '_blank', rel: 'noopener noreferrer' }, b.text)
                : null
              : h(
                  'button',
                  { type: 'button', class: 'chip', onclick: () => choose(b.text, b.payload) },
                  b.text,
                ),
          ),
        )
      : null,
  );
}

function noticeText(m: ChatMessage): string {
  const who = m.from.nickname || m.from.type;
  if (isQueued(m)) return QUEUE_TEXT;
  if (m.type === 'ParticipantJoined') return `${who} joined the chat`;
  if (m.type === 'ParticipantLeft') return `${who} left the chat`;
  return m.text ?? '';
}

/** The router's notice that the conversation waits in a queue (its text is the code `queued`). */
function isQueued(m: ChatMessage): boolean {
  return (
    m.type === 'Notice' && (m.content?.notice === 'queued' || (!m.content?.notice && m.text === 'queued'))
  );
}

/** What a customer reads while the conversation waits in a queue. */
const QUEUE_TEXT = "You're in the queue; an agent will be with you shortly.";

function adoptStyles(root: ShadowRoot, text: string): void {
  // A constructed stylesheet needs no inline <style>, so it works under a strict CSP.
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(text);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(h('style', null, text));
  }
}

const SVG = 'http://www.w3.org/2000/svg';

function icon(d: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

function bubbleIcon(): SVGSVGElement {
  return icon('M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
}

function micIcon(): SVGSVGElement {
  return icon(
    'M12 15a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v7a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.93V22h2v-3.07A7 7 0 0 0 19 12z',
  );
}

function sendIcon(): SVGSVGElement {
  return icon('M3 20.5 21 12 3 3.5l2.5 7.5L15 12l-9.5 1z');
}
