/**
 * The agent console, built to live in an iframe of the agent desktop:
 * - `/ux/comm?customername=…&ccid=…`: the agent's conversations, queues, the async-hold list, the
 *   ready/not-ready switch, and the selected conversation next to the list;
 * - `/ux/conv?iid=…&customername=…&ccid=…`: one conversation.
 * The agent token arrives by the postMessage handshake of token.ts or from the sign-in form.
 */
import type { ConversationSummary } from '../../src/gateway/chat/events.js';
import { peekJwt } from '../shared/api.js';
import { clear, formatTime, h } from '../shared/dom.js';
import { AgentClient, type AgentStatus, customerName } from './agent-client.js';
import { ConversationPane } from './conversation-pane.js';
import { allowedOrigins, tokenSource } from './token.js';

const query = new URLSearchParams(location.search);
const view = document.body.dataset.view === 'conv' ? 'conv' : 'comm';
const customername = query.get('customername') ?? '';
const ccid = query.get('ccid') ?? '';
const iid = query.get('iid') ?? '';

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

const app = document.getElementById('app')!;
const announcer = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
const origins = allowedOrigins(
  document.querySelector('meta[name="nexus-parent-origins"]')?.getAttribute('content'),
  location.origin,
);
const tokens = tokenSource(storage(), origins);
const agent = new AgentClient(location.origin, storage());

let current: { destroy(): void } | undefined;

function show(token: string | undefined, reason?: string): void {
  current?.destroy();
  current = undefined;
  clear(app);
  if (!token) {
    agent.disconnect();
    current = loginForm(reason);
    return;
  }
  const claims = peekJwt(token);
  if (ccid && claims?.ccid && claims.ccid !== ccid) {
    tokens.clear();
    show(undefined, `That token is for another tenant (${String(claims.ccid)}), not ${ccid}.`);
    return;
  }
  agent.connect(token);
  current = view === 'conv' ? convView(claims) : commView(claims);
}

tokens.onToken((t) => show(t));
agent.on('authError', (e) => {
  tokens.clear();
  show(undefined, `The gateway refused the token: ${e.message}`);
});
agent.on('notice', (text) => {
  announcer.textContent = text;
});
document.body.append(announcer);
show(tokens.stored());

function loginForm(reason?: string): { destroy(): void } {
  const input = h('textarea', {
    id: 'token',
    rows: '4',
    required: true,
    spellcheck: 'false',
    autocomplete: 'off',
  });
  const error = h('p', { class: 'error', role: 'alert' }, reason ?? '');
  const form = h(
    'form',
    {
      class: 'login card',
      'aria-labelledby': 'login-title',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const t = input.value.trim();
        if (!t) {
          error.textContent = 'Paste your agent token.';
          input.focus();
          return;
        }
        tokens.save(t);
      },
    },
    h('h1', { id: 'login-title' }, 'Sign in to the agent console'),
    h(
      'p',
      { class: 'hint' },
      window.parent !== window
        ? 'Waiting for the agent desktop to sign you in… or paste an agent token.'
        : 'Paste the agent token your administrator gave you (POST /nexus/v3/provisioning/agents/{ccid}/{agentId}/tokens).',
    ),
    h('label', { for: 'token' }, 'Agent token'),
    input,
    error,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  app.append(h('main', { class: 'login-wrap' }, form));
  if (window.parent === window) input.focus();
  return { destroy: () => form.remove() };
}

function topBar(
  claims: Record<string, unknown> | undefined,
  title: string,
): { el: HTMLElement; destroy(): void } {
  const name = String(claims?.name ?? claims?.agentId ?? 'Agent');
  const dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const conn = h('span', { class: 'conn' }, dot, h('span', { class: 'conn-text' }, 'Connecting…'));
  const ready = h('button', {
    type: 'button',
    class: 'switch',
    role: 'switch',
    'aria-checked': String(agent.state === 'ready'),
    onclick: () => void agent.setState(agent.state === 'ready' ? 'notready' : 'ready'),
  });
  const label = () => {
    ready.setAttribute('aria-checked', String(agent.state === 'ready'));
    ready.textContent = agent.state === 'ready' ? 'Ready' : 'Not ready';
    ready.dataset.state = agent.state;
  };
  label();
  const setConn = (s: AgentStatus) => {
    conn.dataset.state = s;
    conn.lastElementChild!.textContent =
      s === 'live' ? 'Connected' : s === 'connecting' ? 'Connecting…' : 'Offline, reconnecting…';
  };
  setConn(agent.status);
  const offs = [
    agent.on('status', setConn),
    agent.on('state', () => {
      label();
      announcer.textContent =
        agent.state === 'ready' ? 'You are ready for conversations' : 'You are not ready';
    }),
  ];
  const el = h(
    'header',
    { class: 'top' },
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, 'N'),
      h('h1', null, title),
    ),
    h(
      'div',
      { class: 'who' },
      h('span', { class: 'agent-name' }, name),
      customername ? h('span', { class: 'tenant' }, customername) : null,
    ),
    conn,
    ready,
    h('button', { type: 'button', class: 'ghost', onclick: () => tokens.clear() }, 'Sign out'),
  );
  return { el, destroy: () => offs.forEach((f) => f()) };
}

function commView(claims: Record<string, unknown> | undefined): { destroy(): void } {
  const bar = topBar(claims, 'Communication');
  const mine = h('ul', { class: 'list', 'aria-labelledby': 'mine-title' });
  const hold = h('ul', { class: 'list', 'aria-labelledby': 'hold-title' });
  const queues = h('ul', { class: 'queues', 'aria-labelledby': 'queues-title' });
  const counts = { mine: h('span', { class: 'count' }), hold: h('span', { class: 'count' }) };
  const side = h(
    'nav',
    { class: 'side', 'aria-label': 'Conversations' },
    h('section', null, h('h2', { id: 'mine-title' }, 'My conversations ', counts.mine), mine),
    h('section', null, h('h2', { id: 'hold-title' }, 'Async hold ', counts.hold), hold),
    h('section', null, h('h2', { id: 'queues-title' }, 'Queues'), queues),
  );
  const main = h('div', { class: 'main' });
  let pane: ConversationPane | undefined;
  let selected: string | undefined;
  let listFrame = 0;

  const placeholder = () =>
    h(
      'div',
      { class: 'placeholder' },
      h('h2', null, 'No conversation selected'),
      h(
        'p',
        null,
        agent.state === 'ready'
          ? 'You are ready: new conversations open here as they are assigned to you.'
          : 'Switch to Ready to receive conversations, or pick one from the list.',
      ),
    );

  const select = (id: string | undefined, focus = false) => {
    if (id === selected && pane) return;
    selected = id;
    pane?.destroy();
    pane = undefined;
    clear(main);
    if (!id) {
      main.append(placeholder());
    } else {
      pane = new ConversationPane(agent, id);
      main.append(pane.el);
      void agent.join(id);
      if (focus) pane.focus();
    }
    renderList();
  };

  const item = (s: ConversationSummary) =>
    h(
      'li',
      null,
      h(
        'button',
        {
          type: 'button',
          class: 'conv-item',
          'aria-current': s.id === selected ? 'true' : undefined,
          onclick: () => select(s.id, true),
        },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(customerName(s))),
        h(
          'span',
          { class: 'conv-text' },
          h('span', { class: 'name' }, customerName(s)),
          h('span', { class: 'preview' }, preview(s.id)),
        ),
        h('span', { class: `pill ${s.state}` }, s.state === 'asynchold' ? 'hold' : s.state),
      ),
    );

  const preview = (id: string) => {
    const c = agent.conversations.get(id);
    const last = c?.messages.filter((m) => m.type === 'Text').pop();
    return last?.text ? last.text.slice(0, 60) : c?.summary.queue ? `queue ${c.summary.queue}` : '';
  };

  const renderList = () => {
    const all = [...agent.conversations.values()].map((c) => c.summary);
    const byTime = (a: ConversationSummary, b: ConversationSummary) => b.updatedAt.localeCompare(a.updatedAt);
    // An undelivered one (an SMS reply failed for good) is still the agent's, to reopen and finish.
    const assigned = all.filter((s) => s.state === 'assigned' || s.state === 'undelivered').sort(byTime);
    const held = all.filter((s) => s.state === 'asynchold').sort(byTime);
    clear(mine);
    clear(hold);
    clear(queues);
    for (const s of assigned) mine.append(item(s));
    for (const s of held) hold.append(item(s));
    if (!assigned.length) mine.append(h('li', { class: 'empty' }, 'None right now'));
    if (!held.length) hold.append(h('li', { class: 'empty' }, 'None'));
    counts.mine.textContent = String(assigned.length);
    counts.hold.textContent = String(held.length);
    renderQueues();
  };

  /** The agent's queues, each with what waits in it (first come, first served) and since when. */
  const renderQueues = () => {
    const waiting = new Map<string, ConversationSummary[]>(agent.queues.map((q) => [q, []]));
    for (const s of agent.queued.values()) {
      const q = s.queue ?? 'default';
      if (!waiting.has(q)) waiting.set(q, []);
      waiting.get(q)!.push(s);
    }
    if (!waiting.size) queues.append(h('li', { class: 'empty' }, 'You are in no queue'));
    for (const [q, list] of [...waiting].sort(([x], [y]) => x.localeCompare(y))) {
      list.sort((x, y) => x.updatedAt.localeCompare(y.updatedAt));
      const id = `queue-${q.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      queues.append(
        h(
          'li',
          { class: 'queue', 'data-queue': q },
          h(
            'div',
            { class: 'queue-head' },
            h('span', { id, class: 'queue-name' }, q),
            h('span', { class: 'count' }, `${list.length} waiting`),
          ),
          list.length
            ? h(
                'ol',
                { class: 'waiting', 'aria-labelledby': id },
                ...list.map((s) =>
                  h(
                    'li',
                    { 'data-conversation': s.id },
                    h('span', { class: 'name' }, customerName(s)),
                    h(
                      'time',
                      { class: 'since', datetime: s.updatedAt },
                      formatTime(s.updatedAt) ? `since ${formatTime(s.updatedAt)}` : '',
                    ),
                  ),
                ),
              )
            : null,
        ),
      );
    }
  };

  const offs = [
    // Any change may move a preview or a count: redraw the list once per frame at most.
    agent.on('change', () => {
      if (listFrame) return;
      listFrame = requestAnimationFrame(() => {
        listFrame = 0;
        renderList();
      });
    }),
    agent.on('state', () => {
      if (!selected) {
        clear(main);
        main.append(placeholder());
      }
    }),
    agent.on('assigned', (c) => {
      announcer.textContent = `New conversation from ${customerName(c.summary)}`;
      if (!selected || agent.conversations.get(selected)?.summary.state === 'done') select(c.summary.id);
      else renderList();
    }),
  ];

  app.append(h('div', { class: 'shell comm' }, bar.el, h('div', { class: 'split' }, side, main)));
  select(undefined);
  return {
    destroy() {
      cancelAnimationFrame(listFrame);
      bar.destroy();
      offs.forEach((f) => f());
      pane?.destroy();
      agent.disconnect();
    },
  };
}

function convView(claims: Record<string, unknown> | undefined): { destroy(): void } {
  const bar = topBar(claims, 'Conversation');
  if (!iid) {
    app.append(
      h(
        'div',
        { class: 'shell' },
        bar.el,
        h('p', { class: 'error', role: 'alert' }, 'No conversation: the URL needs ?iid=…'),
      ),
    );
    return { destroy: () => bar.destroy() };
  }
  const pane = new ConversationPane(agent, iid);
  const error = h('p', { class: 'error', role: 'alert' });
  app.append(h('div', { class: 'shell conv' }, bar.el, error, h('div', { class: 'main' }, pane.el)));
  const join = async () => {
    const err = await agent.join(iid);
    error.textContent = err && !err.retryable ? `Cannot open this conversation: ${err.message}` : '';
  };
  const off = agent.on('status', (s) => s === 'live' && void join());
  if (agent.status === 'live') void join();
  return {
    destroy() {
      off();
      bar.destroy();
      pane.destroy();
      agent.disconnect();
    },
  };
}

function initials(name: string): string {
  return (
    name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((p) => p[0]?.toUpperCase())
      .join('') || '?'
  );
}
