/**
 * One conversation in the console: transcript, composer (reply or internal note), typing,
 * agent-assist suggestions (use, edit, dismiss), transfer and Done. Used by `/ux/conv` alone and by
 * `/ux/comm` next to the list.
 */
import type { ChatMessage } from '../../src/gateway/chat/events.js';
import { clear, formatTime, h, stickToBottom } from '../shared/dom.js';
import { type AgentClient, type Conversation, customerName, type PendingAgentSend } from './agent-client.js';
import { Attachments } from './attachments.js';
import { ContactHistory } from './contact-history.js';

const STATE_LABEL: Record<string, string> = {
  bot: 'With bot',
  queued: 'Queued',
  assigned: 'Active',
  asynchold: 'Async hold',
  undelivered: 'Undelivered',
  done: 'Done',
};

/** A reply's delivery state through the provider (SMS), said in words, not only in colour. */
const DELIVERY_LABEL: Record<NonNullable<ChatMessage['delivery']>['state'], string> = {
  queued: 'Queued',
  sent: 'Sent',
  delivered: 'Delivered',
  failed: 'Failed',
  undelivered: 'Undelivered',
};

export class ConversationPane {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly sub: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly typingEl: HTMLElement;
  private readonly suggestions: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly note: HTMLInputElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly transferForm: HTMLFormElement;
  private readonly transferQueue: HTMLInputElement;
  private readonly transferAgent: HTMLInputElement;
  private readonly transferButton: HTMLButtonElement;
  private readonly doneButton: HTMLButtonElement;
  private readonly feedback: HTMLElement;
  private readonly off: Array<() => void> = [];
  private typingSent = 0;
  private readonly history: ContactHistory;
  private readonly attachments: Attachments;
  /**
   * The suggestion the agent is editing in the composer. Its feedback waits for the send: 'edited'
   * with the text the agent actually sent ('used' when sent unchanged); nothing when the agent
   * empties the composer, sends it as an internal note, edits another one, or leaves.
   */
  private editing?: { suggestionId: string; text: string };

  constructor(
    private readonly agent: AgentClient,
    readonly conversationId: string,
  ) {
    this.title = h('h2', { id: 'conv-title' }, 'Conversation');
    this.history = new ContactHistory(agent, conversationId);
    this.attachments = new Attachments(agent);
    this.badge = h('span', { class: 'state' });
    this.sub = h('p', { class: 'sub' });
    this.transferButton = h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'aria-expanded': 'false',
        'aria-controls': 'transfer-form',
        onclick: () => this.toggleTransfer(),
      },
      'Transfer',
    );
    this.doneButton = h(
      'button',
      { type: 'button', class: 'primary', onclick: () => void this.markDone() },
      'Done',
    );
    this.feedback = h('p', { class: 'feedback', role: 'status' });

    this.transferQueue = h('input', {
      id: 'transfer-queue',
      name: 'queue',
      autocomplete: 'off',
      placeholder: 'e.g. billing',
    });
    this.transferAgent = h('input', {
      id: 'transfer-agent',
      name: 'agentId',
      autocomplete: 'off',
      placeholder: 'e.g. sam',
    });
    this.transferForm = h(
      'form',
      {
        id: 'transfer-form',
        class: 'transfer',
        hidden: true,
        'aria-label': 'Transfer the conversation',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.doTransfer();
        },
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === 'Escape') this.toggleTransfer(false);
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'transfer-queue' }, 'To queue'), this.transferQueue),
      h('div', { class: 'field' }, h('label', { for: 'transfer-agent' }, 'or to agent'), this.transferAgent),
      h('button', { type: 'submit', class: 'primary' }, 'Transfer'),
      h(
        'button',
        { type: 'button', class: 'secondary', onclick: () => this.toggleTransfer(false) },
        'Cancel',
      ),
    );

    this.log = h('ol', {
      class: 'transcript',
      role: 'log',
      'aria-live': 'polite',
      'aria-labelledby': 'conv-title',
      tabindex: '0',
    });
    this.typingEl = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.suggestions = h('section', {
      class: 'suggestions',
      'aria-label': 'Suggested replies',
      hidden: true,
    });

    this.input = h('textarea', {
      id: 'reply',
      rows: '2',
      maxlength: '4000',
      placeholder: 'Write a reply…  (Enter sends, Shift+Enter for a new line)',
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      },
      oninput: () => {
        // An emptied composer drops the suggestion being edited.
        if (!this.input.value.trim()) this.editing = undefined;
        // Writing a note is nothing the customer should see as typing.
        if (this.note.checked) return;
        const now = Date.now();
        if (now - this.typingSent > 2000) {
          this.typingSent = now;
          this.agent.typing(this.conversationId, true);
        }
      },
    });
    this.note = h('input', {
      id: 'as-note',
      type: 'checkbox',
      onchange: () => this.updateComposer(),
    });
    this.sendButton = h('button', { type: 'submit', class: 'primary' }, 'Send');

    this.el = h(
      'section',
      { class: 'conversation', 'aria-labelledby': 'conv-title' },
      h(
        'header',
        { class: 'conv-head' },
        h(
          'div',
          { class: 'conv-titles' },
          h('div', { class: 'title-row' }, this.title, this.badge),
          this.sub,
        ),
        h('div', { class: 'actions' }, this.transferButton, this.doneButton),
      ),
      this.transferForm,
      this.feedback,
      this.log,
      this.typingEl,
      this.suggestions,
      h(
        'form',
        {
          class: 'composer',
          onsubmit: (e: Event) => {
            e.preventDefault();
            this.submit();
          },
        },
        h('label', { for: 'reply', class: 'sr-only' }, 'Reply to the customer'),
        this.input,
        h(
          'div',
          { class: 'composer-row' },
          h('label', { class: 'check', for: 'as-note' }, this.note, ' Internal note (agents only)'),
          this.sendButton,
        ),
      ),
    );

    this.off.push(agent.on('change', (id) => id === this.conversationId && this.render()));
    this.render();
  }

  destroy(): void {
    for (const f of this.off) f();
    this.attachments.dispose();
    this.el.remove();
  }

  focus(): void {
    this.input.focus();
  }

  private get conv(): Conversation | undefined {
    return this.agent.conversations.get(this.conversationId);
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    const visibility = this.note.checked ? 'agents' : 'all';
    this.agent.send(this.conversationId, text, visibility);
    const edited = this.editing;
    this.editing = undefined;
    if (edited && visibility === 'all') {
      // What the customer got, as the client sends it (trimmed, at most 4000 characters).
      const sent = text.trim().slice(0, 4000);
      void this.agent.suggestionFeedback(
        this.conversationId,
        edited.suggestionId,
        sent === edited.text ? 'used' : 'edited',
        sent === edited.text ? undefined : sent,
      );
    }
    this.agent.typing(this.conversationId, false);
    this.typingSent = 0;
    this.input.value = '';
    this.note.checked = false;
    this.updateComposer();
    this.input.focus();
  }

  private updateComposer(): void {
    const note = this.note.checked;
    this.el.classList.toggle('noting', note);
    this.sendButton.textContent = note ? 'Add note' : 'Send';
    this.input.placeholder = note
      ? 'Write an internal note: only agents see it'
      : 'Write a reply…  (Enter sends, Shift+Enter for a new line)';
  }

  private toggleTransfer(open = this.transferForm.hidden): void {
    this.transferForm.hidden = !open;
    this.transferButton.setAttribute('aria-expanded', String(open));
    if (open) this.transferQueue.focus();
    else this.transferButton.focus();
  }

  private async doTransfer(): Promise<void> {
    const queue = this.transferQueue.value.trim();
    const agentId = this.transferAgent.value.trim();
    if (!queue && !agentId) {
      this.say('Name a queue or an agent to transfer to.');
      this.transferQueue.focus();
      return;
    }
    const err = await this.agent.transfer(this.conversationId, queue ? { queue } : { agentId });
    if (err) {
      this.say(`Transfer failed: ${err.message}`);
      return;
    }
    this.transferQueue.value = '';
    this.transferAgent.value = '';
    this.toggleTransfer(false);
    this.say(`Transferred to ${queue ? `queue ${queue}` : `agent ${agentId}`}.`);
  }

  private async markDone(): Promise<void> {
    this.doneButton.disabled = true;
    const err = await this.agent.done(this.conversationId);
    this.doneButton.disabled = false;
    this.say(err ? `Could not mark it done: ${err.message}` : 'Marked as done.');
  }

  private say(text: string): void {
    this.feedback.textContent = text;
  }

  render(): void {
    const c = this.conv;
    if (!c) {
      this.title.textContent = 'Conversation';
      this.sub.textContent = 'Loading…';
      return;
    }
    const s = c.summary;
    this.title.textContent = customerName(s);
    this.badge.textContent = STATE_LABEL[s.state] ?? s.state;
    this.badge.dataset.state = s.state;
    this.sub.textContent = [
      s.channel === 'chat' ? 'Web chat' : s.channel.toUpperCase(),
      s.queue && `queue ${s.queue}`,
      s.customer?.email,
    ]
      .filter(Boolean)
      .join(' · ');
    const closed = s.state === 'done';
    this.doneButton.disabled = closed;
    this.transferButton.disabled = closed;
    this.input.disabled = closed;
    this.sendButton.disabled = closed;

    stickToBottom(this.log, () => {
      clear(this.log);
      this.history.update(c.history);
      this.log.append(this.history.el);
      for (const m of c.messages) this.log.append(messageItem(m, this.attachments.of(m)));
      for (const p of this.agent.pending.filter((x) => x.conversationId === this.conversationId)) {
        this.log.append(this.pendingItem(p));
      }
    });

    const typing = c.typing && c.typing.until > Date.now() ? c.typing : undefined;
    this.typingEl.textContent = typing ? `${typing.from.nickname || customerName(s)} is typing…` : '';

    clear(this.suggestions);
    this.suggestions.hidden = c.suggestions.length === 0;
    if (c.suggestions.length) {
      this.suggestions.append(h('h3', null, 'Suggested replies'));
      for (const sug of c.suggestions) {
        this.suggestions.append(
          h(
            'div',
            { class: 'suggestion' },
            h('p', null, sug.text),
            h(
              'div',
              { class: 'suggestion-actions' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'primary small',
                  onclick: () => {
                    this.agent.send(this.conversationId, sug.text, 'all');
                    void this.agent.suggestionFeedback(this.conversationId, sug.id, 'used');
                  },
                },
                'Use',
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'secondary small',
                  onclick: () => {
                    // The feedback is given when the reply is sent (see submit), with what was sent.
                    this.editing = { suggestionId: sug.id, text: sug.text.trim().slice(0, 4000) };
                    this.agent.setSuggestionAside(this.conversationId, sug.id);
                    this.input.value = sug.text;
                    this.input.focus();
                  },
                },
                'Edit',
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'ghost small',
                  'aria-label': `Dismiss suggestion: ${sug.text.slice(0, 60)}`,
                  onclick: () => void this.agent.suggestionFeedback(this.conversationId, sug.id, 'dismissed'),
                },
                'Dismiss',
              ),
            ),
          ),
        );
      }
    }
  }

  private pendingItem(p: PendingAgentSend): HTMLLIElement {
    return h(
      'li',
      { class: `msg agent ${p.visibility === 'agents' ? 'note' : ''} ${p.failed ? 'failed' : 'pending'}` },
      h('p', { class: 'bubble' }, p.text),
      p.failed
        ? h(
            'p',
            { class: 'meta' },
            `Not sent: ${p.failed.message} `,
            h(
              'button',
              { type: 'button', class: 'link', onclick: () => this.agent.retry(p.clientMessageId) },
              'Retry',
            ),
            h(
              'button',
              { type: 'button', class: 'link', onclick: () => this.agent.discard(p.clientMessageId) },
              'Remove',
            ),
          )
        : h('p', { class: 'meta' }, 'Sending…'),
    );
  }
}

function messageItem(m: ChatMessage, files: HTMLElement[] = []): HTMLLIElement {
  const system = m.from.type === 'System' || (m.type !== 'Text' && m.type !== 'Rich' && m.type !== 'File');
  if (system) {
    const who = m.from.nickname || m.from.type;
    const text =
      m.text ||
      (m.type === 'ParticipantJoined'
        ? `${who} joined`
        : m.type === 'ParticipantLeft'
          ? `${who} left`
          : m.type);
    return h('li', { class: 'notice', 'data-seq': m.seq }, text);
  }
  const note = m.visibility === 'agents';
  const side = m.from.type === 'Customer' ? 'customer' : m.from.type === 'Bot' ? 'bot' : 'agent';
  const offered = side === 'customer' ? [] : offeredLines(m);
  return h(
    'li',
    { class: `msg ${side}${note ? ' note' : ''}`, 'data-seq': m.seq },
    h(
      'p',
      { class: 'who' },
      note ? 'Internal note · ' : '',
      m.from.nickname || (side === 'customer' ? 'Customer' : side === 'bot' ? 'Bot' : 'Agent'),
    ),
    // A bot's quick replies or cards may come without text: the agent reads what the customer was offered.
    m.text || (!offered.length && !files.length) ? h('p', { class: 'bubble' }, m.text ?? '') : null,
    ...files,
    ...offered.map((line) => h('p', { class: 'meta offered' }, line)),
    h(
      'p',
      { class: 'meta' },
      formatTime(m.timestamp),
      m.delivery && !note
        ? h(
            'span',
            { class: `delivery ${m.delivery.state}`, 'data-delivery': m.delivery.state },
            ` · ${DELIVERY_LABEL[m.delivery.state]}`,
          )
        : '',
    ),
  );
}

/** A message's cards and quick replies in words, as the customer was shown them. */
function offeredLines(m: ChatMessage): string[] {
  const lines: string[] = [];
  for (const c of m.content?.cards ?? []) {
    const buttons = (c.buttons ?? []).map((b) => b.text);
    lines.push(
      `Card: ${[c.title, c.subtitle].filter(Boolean).join(' — ')}${buttons.length ? ` [${buttons.join(' · ')}]` : ''}`,
    );
  }
  const quick = m.content?.quickReplies ?? [];
  if (quick.length) lines.push(`Offered: ${quick.map((q) => q.text).join(' · ')}`);
  return lines;
}
