/**
 * The custom payloads a bot designer writes in Dialogflow (CX `payload`, ES `payload`) and Lex
 * (`CustomPayload`) to send what plain text cannot: quick replies, cards, images, a handoff, the
 * end of the conversation. Read once here, so the three connectors agree on it.
 *
 * Two shapes are understood, in one payload or in separate ones:
 *
 * - ours: `{ text?, quickReplies?: [string | { text, payload? }], cards?: [{ title, subtitle?,
 *   imageUrl?, buttons?: [{ text, payload?, url? }] }], image?, handoff?: true | { queue?, reason? },
 *   endConversation?: true, suggestions?: [string | { text, confidence? }] }`;
 * - Dialogflow Messenger's `richContent` (an array of groups of `chips`, `info`, `image`, `button`,
 *   `description`, `list` elements), which CX and ES agents are commonly built with.
 *
 * Keys it does not know stay in `reply.custom`, untouched.
 */
import type { BotReply, BotTurn } from './types.js';

export interface PayloadResult {
  reply?: BotReply;
  handoff?: NonNullable<BotTurn['handoff']>;
  endConversation?: boolean;
  suggestions?: NonNullable<BotTurn['suggestions']>;
}

type Obj = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Obj | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const KNOWN = new Set([
  'text',
  'quickReplies',
  'cards',
  'image',
  'handoff',
  'endConversation',
  'suggestions',
  'richContent',
]);

export const DEFAULT_HANDOFF_REASON = 'the bot handed the conversation to an agent';

type Card = NonNullable<BotReply['cards']>[number];
type Button = NonNullable<Card['buttons']>[number];

function quickReply(v: unknown): { text: string; payload?: string } | undefined {
  const text = str(v) ?? str(obj(v)?.text);
  if (!text) return undefined;
  const payload = str(obj(v)?.payload);
  return payload ? { text, payload } : { text };
}

function button(v: unknown): Button | undefined {
  const b = obj(v);
  const text = str(b?.text) ?? str(b?.title);
  if (!text) return undefined;
  const out: Button = { text };
  const payload = str(b?.payload) ?? str(b?.value) ?? str(b?.postback);
  const url = str(b?.url) ?? str(b?.link);
  if (url) out.url = url;
  if (payload) out.payload = payload;
  return out;
}

function card(v: unknown): Card | undefined {
  const c = obj(v);
  const title = str(c?.title);
  if (!title) return undefined;
  const out: Card = { title };
  const subtitle = str(c?.subtitle);
  const imageUrl = str(c?.imageUrl);
  if (subtitle) out.subtitle = subtitle;
  if (imageUrl) out.imageUrl = imageUrl;
  const buttons = arr(c?.buttons)
    .map(button)
    .filter((b): b is Button => !!b);
  if (buttons.length) out.buttons = buttons;
  return out;
}

/** A handoff as a payload says it: `true`, or `{ queue?, reason? }`. */
export function handoffOf(v: unknown): PayloadResult['handoff'] {
  if (v === true) return { reason: DEFAULT_HANDOFF_REASON };
  const h = obj(v);
  if (!h) return undefined;
  const queue = str(h.queue);
  return { ...(queue ? { queue } : {}), reason: str(h.reason) ?? DEFAULT_HANDOFF_REASON };
}

/** Dialogflow Messenger rich content, folded into one reply. */
function richContent(groups: unknown[], reply: BotReply): void {
  const quick = reply.quickReplies ?? [];
  const cards = reply.cards ?? [];
  for (const group of groups) {
    let lastCard: Card | undefined;
    for (const raw of arr(group)) {
      const el = obj(raw);
      if (!el) continue;
      switch (el.type) {
        case 'chips':
          for (const o of arr(el.options)) {
            const text = str(obj(o)?.text);
            if (text) quick.push({ text });
          }
          break;
        case 'info': {
          const title = str(el.title);
          if (!title) break;
          lastCard = { title };
          const subtitle = str(el.subtitle);
          const imageUrl = str(obj(obj(el.image)?.src)?.rawUrl);
          const link = str(el.actionLink);
          if (subtitle) lastCard.subtitle = subtitle;
          if (imageUrl) lastCard.imageUrl = imageUrl;
          if (link) lastCard.buttons = [{ text: title, url: link }];
          cards.push(lastCard);
          break;
        }
        case 'image': {
          const url = str(el.rawUrl);
          if (url) reply.image = url;
          break;
        }
        case 'button': {
          const text = str(el.text);
          if (!text) break;
          const b: Button = { text };
          const link = str(el.link);
          const event = str(obj(el.event)?.event) ?? str(obj(el.event)?.name);
          if (link) b.url = link;
          if (event) b.payload = event;
          // A button belongs to the card before it in its group; alone it is a card of its own.
          if (lastCard) lastCard.buttons = [...(lastCard.buttons ?? []), b];
          else {
            lastCard = { title: text, buttons: [b] };
            cards.push(lastCard);
          }
          break;
        }
        case 'description': {
          const lines = [str(el.title), ...arr(el.text).map(str)].filter((l): l is string => !!l);
          if (lines.length) reply.text = [reply.text, ...lines].filter(Boolean).join('\n');
          break;
        }
        case 'list': {
          const text = str(el.title);
          const event = str(obj(el.event)?.event) ?? str(obj(el.event)?.name);
          if (text) quick.push(event ? { text, payload: event } : { text });
          break;
        }
        default:
          break;
      }
    }
  }
  if (quick.length) reply.quickReplies = quick;
  if (cards.length) reply.cards = cards;
}

/** Reads one custom payload (already plain JSON). */
export function readCustomPayload(payload: unknown): PayloadResult {
  const p = obj(payload);
  if (!p) return {};
  const out: PayloadResult = {};
  const reply: BotReply = {};
  const text = str(p.text);
  if (text) reply.text = text;
  const quick = arr(p.quickReplies)
    .map(quickReply)
    .filter((q): q is { text: string; payload?: string } => !!q);
  if (quick.length) reply.quickReplies = quick;
  const cards = arr(p.cards)
    .map(card)
    .filter((c): c is Card => !!c);
  if (cards.length) reply.cards = cards;
  const image = str(p.image);
  if (image) reply.image = image;
  if (Array.isArray(p.richContent)) richContent(p.richContent, reply);
  const handoff = handoffOf(p.handoff);
  if (handoff) out.handoff = handoff;
  if (p.endConversation === true) out.endConversation = true;
  const suggestions = arr(p.suggestions).flatMap((s) => {
    const t = str(s) ?? str(obj(s)?.text);
    const c = obj(s)?.confidence;
    return t ? [typeof c === 'number' ? { text: t, confidence: c } : { text: t }] : [];
  });
  if (suggestions.length) out.suggestions = suggestions;
  const rest = Object.fromEntries(Object.entries(p).filter(([k]) => !KNOWN.has(k)));
  if (Object.keys(rest).length) reply.custom = rest;
  if (Object.keys(reply).length) out.reply = reply;
  return out;
}

/** Adds what one provider message said to the turn being built. */
export function mergeInto(turn: BotTurn, r: PayloadResult): void {
  if (r.reply) turn.replies.push(r.reply);
  if (r.handoff) turn.handoff = r.handoff;
  if (r.endConversation) turn.endConversation = true;
  if (r.suggestions) turn.suggestions = [...(turn.suggestions ?? []), ...r.suggestions];
}

/** A list setting (`handoffIntents`, …): an array of names or one comma-separated string. */
export function names(v: unknown, fallback: string[] = []): Set<string> {
  if (Array.isArray(v)) return new Set(v.filter((x): x is string => typeof x === 'string' && x.length > 0));
  if (typeof v === 'string')
    return new Set(
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  return new Set(fallback);
}
