/**
 * A channel section's options, as the guide lists them for sender ids (`chat.*`) and email domains
 * (`cxc.*`). Values arrive as JSON or as form strings (they come from a key=value options screen
 * in the suite), so `cxcOnly` also takes "true"/"false".
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { parseOrThrow } from '../services/validation.js';
import { CHANNEL_PROVIDERS, CHANNEL_TYPES, type ChannelInput } from './types.js';

export const SECTION = /^(chat|cxc)\.[A-Za-z0-9_-]+$/;

export function checkSection(section: string | undefined): string {
  if (!section || section.length > 128 || !SECTION.test(section)) {
    throw new AppError(
      'VALIDATION_FAILED',
      'section must start with "chat." or "cxc." followed by letters, digits, "_" or "-" (no spaces), e.g. chat.SMS_Main_Corporate.',
      { field: 'section' },
    );
  }
  return section;
}

const text = z.string().trim().min(1, 'must not be empty').max(256, 'must be at most 256 characters');

const boolish = z.preprocess(
  (v) => (typeof v === 'string' && /^(true|false)$/i.test(v.trim()) ? v.trim().toLowerCase() === 'true' : v),
  z.boolean({ invalid_type_error: 'must be true or false' }),
);

const PHONE = /^\+?[0-9]{3,20}$/;
const DOMAIN = /^(?=.*[A-Za-z])[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

const body = z
  .object({
    channelId: text,
    channelType: z.enum(CHANNEL_TYPES).optional(),
    endpoint: text.optional(),
    interactionSubtype: text.optional(),
    interactionType: text.optional(),
    media: text.optional(),
    cxcOnly: boolish.default(false),
    provider: z.enum(CHANNEL_PROVIDERS).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const type = b.channelType ?? inferType(b.channelId);
    if (!type) {
      ctx.addIssue({
        code: 'custom',
        path: ['channelType'],
        message: 'is required (sms or email) when the channelId is neither a phone number nor a domain',
      });
    } else if (type === 'email' && (b.provider === 'mGage' || b.provider === 'Twilio')) {
      ctx.addIssue({
        code: 'custom',
        path: ['provider'],
        message: `${b.provider} does not send email (use Async or Portico)`,
      });
    }
  });

function inferType(channelId: string): 'sms' | 'email' | undefined {
  if (PHONE.test(channelId)) return 'sms';
  if (DOMAIN.test(channelId)) return 'email';
  return undefined;
}

export function parseChannelBody(value: unknown): ChannelInput {
  const b = parseOrThrow(body, value);
  const channelType = b.channelType ?? inferType(b.channelId)!;
  return {
    channelId: b.channelId,
    channelType,
    ...(b.endpoint !== undefined ? { endpoint: b.endpoint } : {}),
    ...(b.interactionSubtype !== undefined ? { interactionSubtype: b.interactionSubtype } : {}),
    ...(b.interactionType !== undefined ? { interactionType: b.interactionType } : {}),
    ...(b.media !== undefined ? { media: b.media } : {}),
    cxcOnly: b.cxcOnly,
    // The guide: a sender id without a provider uses Portico.
    provider: b.provider ?? (channelType === 'sms' ? 'Portico' : null),
  };
}

/**
 * The routing key of a channelId: what inbound webhooks are matched on and what must be unique.
 * Providers differ on a leading `+` for phone numbers, and domains are case-insensitive.
 */
export function channelKey(channelId: string): string {
  return channelId.trim().toLowerCase().replace(/^\+/, '');
}
