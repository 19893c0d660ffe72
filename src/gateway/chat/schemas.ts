/** Validation of everything a customer or an agent sends (socket payloads and REST bodies). */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { hasLoneSurrogate } from '../../shared/http/body.js';

export const MAX_TEXT_CHARS = 4096;
export const MAX_CONTENT_BYTES = 16 * 1024;

const uuid = z.string().uuid();
const clientMessageId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
// PostgreSQL cannot store U+0000 in text or jsonb: such a message would fail its whole commit
// batch (every message in it answered UNAVAILABLE, and the sender retrying forever).
const noNul = (s: string) => !s.includes('\u0000');
const text = z
  .string()
  .max(MAX_TEXT_CHARS, `at most ${MAX_TEXT_CHARS} characters`)
  .refine(noNul, 'must not contain NUL characters');
/** No key or string anywhere holds half a surrogate pair (jsonb refuses it: a failed commit batch). */
function wellFormedDeep(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) return false;
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (hasLoneSurrogate(k)) return false;
        stack.push(x);
      }
    }
  }
  return true;
}

const content = z
  .record(z.unknown())
  .refine(
    (c) => Buffer.byteLength(JSON.stringify(c)) <= MAX_CONTENT_BYTES,
    `at most ${MAX_CONTENT_BYTES} bytes of JSON`,
  )
  .refine((c) => !JSON.stringify(c).includes('\\u0000'), 'must not contain NUL characters')
  .refine(wellFormedDeep, 'must be well-formed Unicode (no lone surrogate)');

const sendShape = {
  clientMessageId,
  type: z.enum(['Text', 'File', 'Rich']).default('Text'),
  text: text.optional(),
  content: content.optional(),
};

const hasBody = (p: { type: string; text?: string; content?: unknown }) =>
  p.type === 'Text' ? !!p.text && p.text.trim().length > 0 : !!p.text || !!p.content;
const bodyMessage = { message: 'a Text message needs non-blank text; File and Rich need text or content' };

export const consumerSendSchema = z.object(sendShape).strict().refine(hasBody, bodyMessage);
export const agentSendSchema = z
  .object({ ...sendShape, conversationId: uuid, visibility: z.enum(['all', 'agents']).default('all') })
  .strict()
  .refine(hasBody, bodyMessage);
export const consumerTypingSchema = z.object({ typing: z.boolean() }).strict();
export const agentTypingSchema = z.object({ conversationId: uuid, typing: z.boolean() }).strict();
export const resumeSchema = z.object({ lastSeq: z.number().int().min(0) }).strict();
export const joinSchema = z
  .object({ conversationId: uuid, lastSeq: z.number().int().min(0).optional() })
  .strict();
export const conversationIdSchema = z.object({ conversationId: uuid }).strict();
export const agentStateSchema = z.object({ state: z.enum(['ready', 'notready']) }).strict();
export const transferSchema = z
  .object({
    conversationId: uuid,
    queue: z.string().min(1).max(200).optional(),
    agentId: z.string().min(1).max(200).optional(),
  })
  .strict()
  .refine((p) => !!p.queue !== !!p.agentId, { message: 'name either a queue or an agentId' });
export const listSchema = z
  .object({
    states: z
      .array(z.enum(['bot', 'queued', 'assigned', 'asynchold', 'undelivered', 'done']))
      .max(6)
      .optional(),
  })
  .strict();
export const historySchema = z.object({ conversationId: uuid, historyId: uuid }).strict();
export const feedbackSchema = z
  .object({
    suggestionId: z.string().min(1).max(200),
    action: z.enum(['used', 'edited', 'dismissed']),
    text: text.optional(),
  })
  .strict();

const field = () => z.string().trim().max(256, 'at most 256 characters').optional();

/** Chat v3 session request: `data[firstName]`… (form) or the same keys as JSON; other keys are user data. */
export const sessionKnownFields = {
  firstName: field(),
  lastName: field(),
  nickname: field(),
  email: z.string().trim().max(256).email().optional().or(z.literal('')),
  phone: field(),
  subject: field(),
  endpoint: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[\w.:-]+$/, 'letters, digits, _ . : -')
    .optional(),
  stream: field(),
};
export const sessionSchema = z.object(sessionKnownFields).passthrough();
export const MAX_USER_DATA_KEYS = 50;
export const MAX_USER_DATA_VALUE = 1024;

/** Chat v3 `POST {selfUri}/messages`: `data[type]`, `data[text]`, `data[clientMessageId]`. */
export const restMessageSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('Text'),
      text: text.refine((t) => t.trim().length > 0, 'must not be blank'),
      clientMessageId: clientMessageId.optional(),
      // A chosen quick reply (`data[content][payload]`): the bot gets the payload, people read the text.
      content: z
        .object({ payload: z.string().min(1).max(1024).refine(noNul, 'must not contain NUL characters') })
        .strict()
        .optional(),
    })
    .strict(),
  z.object({ type: z.literal('TypingStarted'), text: text.optional() }).strict(),
  z.object({ type: z.literal('TypingStopped'), text: text.optional() }).strict(),
]);

/** Parses or throws VALIDATION_FAILED naming the first offending field. */
export function parse<T extends z.ZodTypeAny>(schema: T, value: unknown, prefix = ''): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
  throw new AppError('VALIDATION_FAILED', `${path || 'payload'}: ${issue.message}${keys}`, {
    field: path || undefined,
  });
}
