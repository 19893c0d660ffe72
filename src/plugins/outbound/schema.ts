/**
 * The body of `POST /nexus/v3/outbound/{ccid}/messages`: the channel (`channelId` or `section`),
 * the recipient, and the content (SMS: `text`; email: `subject` and `text` and/or `html`), with an
 * optional `clientMessageId` that makes a retried request the same message.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { parseOrThrow } from '../../gateway/services/validation.js';

const text = z.string().trim().min(1, 'must not be empty');

export const outboundRequest = z
  .object({
    channelId: text.max(256).optional(),
    section: text.max(128).optional(),
    to: text.max(320),
    text: z.string().min(1, 'must not be empty').max(100_000).optional(),
    subject: text.max(998).optional(),
    html: z.string().min(1, 'must not be empty').max(1_000_000).optional(),
    /** Email: the sender's local part (`news`) or a full address in the channel's domain. */
    from: text.max(320).optional(),
    fromName: text.max(200).optional(),
    replyTo: z.string().trim().email('must be an email address').max(320).optional(),
    clientMessageId: text.max(128).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.channelId === undefined) === (b.section === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['channelId'],
        message: 'give exactly one of channelId and section',
      });
  });

export type OutboundRequest = z.infer<typeof outboundRequest>;

export function parseOutboundRequest(body: unknown): OutboundRequest {
  return parseOrThrow(outboundRequest, body ?? {});
}

const PHONE = /^\+?[0-9]{3,15}$/;
const EMAIL = z.string().email();

/** Checks the fields against the channel's type (after the channel is known). */
export function checkForChannel(req: OutboundRequest, channelType: 'sms' | 'email', domain: string): void {
  const bad = (field: string, message: string) => {
    throw new AppError('VALIDATION_FAILED', `${field} ${message}`, { field });
  };
  if (channelType === 'sms') {
    if (!PHONE.test(req.to.replace(/[\s().-]/g, '')))
      bad('to', 'must be a phone number (digits, optional +)');
    if (req.text === undefined) bad('text', 'is required for an SMS');
    for (const f of ['subject', 'html', 'from', 'fromName', 'replyTo'] as const)
      if (req[f] !== undefined) bad(f, 'is for email channels only');
    return;
  }
  if (!EMAIL.safeParse(req.to).success) bad('to', 'must be an email address');
  if (req.subject === undefined) bad('subject', 'is required for an email');
  if (req.text === undefined && req.html === undefined) bad('text', 'or html is required for an email');
  if (req.from !== undefined) {
    const address = req.from.includes('@') ? req.from : `${req.from}@${domain}`;
    if (!EMAIL.safeParse(address).success)
      bad('from', 'must be a local part or an address in the channel domain');
    if (address.slice(address.lastIndexOf('@') + 1).toLowerCase() !== domain.toLowerCase())
      bad('from', `must be an address in the channel domain ${domain}`);
  }
}

/** Email: the full sender address (`noreply@<domain>` unless the request names one). */
export function senderAddress(req: OutboundRequest, domain: string): string {
  if (!req.from) return `noreply@${domain}`;
  return req.from.includes('@') ? req.from : `${req.from}@${domain}`;
}

/** What makes two requests with one clientMessageId the same message. */
export function requestHash(req: OutboundRequest): string {
  const { clientMessageId: _ignored, ...rest } = req;
  const keys = Object.keys(rest).sort() as Array<keyof typeof rest>;
  return createHash('sha256')
    .update(JSON.stringify(keys.map((k) => [k, rest[k]])))
    .digest('hex');
}
