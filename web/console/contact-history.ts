/**
 * The contact's earlier conversations at the head of a conversation's transcript: each one listed
 * with its date, channel and state, and read in place on demand (`contact.history`, allowed to the
 * agent who holds the current conversation). What was read stays open while the pane re-renders.
 */
import type { ChatMessage, ConversationSummary } from '../../src/gateway/chat/events.js';
import { clear, h } from '../shared/dom.js';
import type { AgentClient } from './agent-client.js';

const STATE: Record<string, string> = {
  done: 'done',
  asynchold: 'on hold',
  assigned: 'active',
  queued: 'queued',
};

export class ContactHistory {
  /** An `li` for the transcript list; empty (hidden) without earlier conversations. */
  readonly el: HTMLLIElement;
  private readonly open = new Map<string, HTMLElement>();
  private shown = '';

  constructor(
    private readonly agent: AgentClient,
    private readonly conversationId: string,
  ) {
    this.el = h('li', { class: 'history', hidden: true });
  }

  /** Lists `history` (newest first); unchanged lists keep their open transcripts as they are. */
  update(history: ConversationSummary[]): void {
    const key = history.map((c) => `${c.id}:${c.state}`).join(',');
    if (key === this.shown) return;
    this.shown = key;
    clear(this.el);
    this.el.hidden = history.length === 0;
    if (!history.length) return;
    const n = history.length;
    this.el.append(
      h(
        'details',
        null,
        h('summary', null, `${n} earlier conversation${n > 1 ? 's' : ''} with this contact`),
        h('ul', { class: 'earlier' }, ...history.map((c) => this.item(c))),
      ),
    );
  }

  private item(c: ConversationSummary): HTMLLIElement {
    const body = this.open.get(c.id) ?? h('div', { class: 'earlier-transcript', id: `earlier-${c.id}` });
    const when = new Date(c.createdAt);
    const label = `${Number.isNaN(when.getTime()) ? '' : when.toLocaleString()} · ${c.channel ?? 'chat'} · ${STATE[c.state] ?? c.state}`;
    const button = h(
      'button',
      {
        type: 'button',
        class: 'link',
        'aria-expanded': String(this.open.has(c.id)),
        'aria-controls': body.id,
        onclick: () => void this.toggle(c.id, body, button),
      },
      label,
    );
    return h('li', { 'data-conversation': c.id }, button, body);
  }

  private async toggle(id: string, body: HTMLElement, button: HTMLButtonElement): Promise<void> {
    if (this.open.has(id)) {
      this.open.delete(id);
      clear(body);
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    this.open.set(id, body);
    button.setAttribute('aria-expanded', 'true');
    clear(body);
    body.append(h('p', { class: 'muted' }, 'Loading…'));
    const r = await this.agent.contactHistory(this.conversationId, id);
    clear(body);
    if ('error' in r) {
      this.open.delete(id);
      button.setAttribute('aria-expanded', 'false');
      body.append(h('p', { role: 'alert' }, r.error.message));
      return;
    }
    const lines = r.transcript.filter((m) => m.text && (m.type === 'Text' || m.type === 'Rich'));
    if (!lines.length) body.append(h('p', { class: 'muted' }, 'No messages'));
    else body.append(h('ol', { class: 'earlier-lines' }, ...lines.map(line)));
  }
}

function line(m: ChatMessage): HTMLLIElement {
  const who = m.from.nickname || m.from.type;
  const note = m.visibility === 'agents';
  return h(
    'li',
    { class: note ? 'note' : null },
    h('span', { class: 'who' }, note ? `Internal note · ${who}: ` : `${who}: `),
    m.text ?? '',
  );
}
