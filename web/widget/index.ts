/**
 * The chat widget a site embeds with one tag:
 *
 *   <script src="https://nexus.example.com/ux/widget.js" data-api-key="…" data-endpoint="web" defer></script>
 *
 * or drives from its own code: `Nexus.init({ apiKey, endpoint })`, `Nexus.open()`, `Nexus.close()`,
 * `Nexus.send(text)`, `Nexus.on('message', fn)`, `Nexus.end()`.
 * Data attributes: data-api-key, data-endpoint (required), data-stream, data-title, data-subtitle,
 * data-launcher, data-first-name, data-last-name, data-nickname, data-email,
 * data-storage (`local`, the default, keeps the chat across tabs and visits; `session` per tab),
 * data-open (`true` opens it at load), data-manual (do not start until `Nexus.init()`).
 */
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { ChatClient, type ChatEvents, type ChatClientOptions, type Customer } from './chat-client.js';
import { WidgetUi } from './ui.js';

export interface WidgetOptions {
  apiKey: string;
  endpoint: string;
  /** The gateway's origin; default: where widget.js was loaded from. */
  gateway?: string;
  stream?: string;
  customer?: Customer;
  userData?: Record<string, string>;
  storage?: 'local' | 'session';
  title?: string;
  subtitle?: string;
  launcher?: string;
  /** Open the chat panel once started. */
  open?: boolean;
  /** Where the widget is mounted; default `document.body`. */
  container?: HTMLElement;
}

type Listener = (...args: any[]) => void;

const script = document.currentScript as HTMLScriptElement | null;
const scriptOrigin = script?.src ? new URL(script.src, location.href).origin : location.origin;

let chat: ChatClient | undefined;
let ui: WidgetUi | undefined;
const early: Array<[keyof ChatEvents, Listener]> = [];

function pickStorage(kind: 'local' | 'session' | undefined): Storage | null {
  try {
    const s = kind === 'session' ? window.sessionStorage : window.localStorage;
    const probe = '__nexus_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

function init(o: WidgetOptions): void {
  if (chat) return;
  if (!o?.apiKey || !o?.endpoint) throw new Error('Nexus.init needs apiKey and endpoint');
  const opts: ChatClientOptions = {
    gateway: (o.gateway ?? scriptOrigin).replace(/\/+$/, ''),
    apiKey: o.apiKey,
    endpoint: o.endpoint,
    stream: o.stream,
    customer: o.customer,
    userData: o.userData,
    storage: pickStorage(o.storage),
  };
  chat = new ChatClient(opts);
  for (const [e, fn] of early.splice(0)) chat.on(e, fn as never);
  const c = chat;
  ui = new WidgetUi(
    c,
    {
      title: o.title ?? 'Chat with us',
      subtitle: o.subtitle ?? 'We reply in a few minutes',
      launcher: o.launcher ?? 'Chat with us',
    },
    (open) => c.setOpen(open),
  );
  (o.container ?? document.body).append(ui.host);
  chat.start();
  if (o.open || chat.wasOpen) ui.setOpen(true);
  window.addEventListener('pagehide', () => chat?.stop());
  window.addEventListener('pageshow', (e) => {
    // Back from the back/forward cache: reconnect and catch up from the saved seq.
    if (e.persisted) chat?.start();
  });
}

function fromScript(): WidgetOptions | undefined {
  const d = script?.dataset;
  if (!d?.apiKey || !d.endpoint) return undefined;
  const customer: Customer = {};
  if (d.firstName) customer.firstName = d.firstName;
  if (d.lastName) customer.lastName = d.lastName;
  if (d.nickname) customer.nickname = d.nickname;
  if (d.email) customer.email = d.email;
  return {
    apiKey: d.apiKey,
    endpoint: d.endpoint,
    stream: d.stream,
    customer,
    storage: d.storage === 'session' ? 'session' : 'local',
    title: d.title,
    subtitle: d.subtitle,
    launcher: d.launcher,
    open: d.open === 'true',
  };
}

function need(): WidgetUi {
  if (!ui) throw new Error('Nexus: call Nexus.init({ apiKey, endpoint }) first');
  return ui;
}

const api = {
  init,
  open: () => need().setOpen(true),
  close: () => need().setOpen(false),
  send: (text: string) => need().send(String(text)),
  end: () => chat?.end() ?? Promise.resolve(),
  /** `message` (every message once, in order), `status`, `typing`, `ended`, `error`, `outbox`. */
  on<K extends keyof ChatEvents>(event: K, fn: ChatEvents[K]): () => void {
    if (chat) return chat.on(event, fn);
    const entry: [keyof ChatEvents, Listener] = [event, fn as Listener];
    early.push(entry);
    return () => {
      const i = early.indexOf(entry);
      if (i >= 0) early.splice(i, 1);
    };
  },
  messages: (): ChatMessage[] => chat?.messages().slice() ?? [],
  get isOpen() {
    return ui?.open ?? false;
  },
};

declare global {
  interface Window {
    Nexus: typeof api;
  }
}

window.Nexus = api;

const auto = fromScript();
if (auto && script?.dataset.manual !== 'true') {
  if (document.body) init(auto);
  else document.addEventListener('DOMContentLoaded', () => init(auto), { once: true });
}
