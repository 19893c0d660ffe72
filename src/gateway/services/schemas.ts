/**
 * The known service names and the shape of each one's `{ url, data, secret }` body: one table,
 * one entry per name (plus three families named by prefix). An unknown name fails loudly instead of
 * being stored unchecked, so a typo in a provisioning script is seen at once.
 */
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { parseOrThrow } from './validation.js';

const text = z.string().trim().min(1, 'must not be empty');
const httpUrl = z
  .string()
  .trim()
  .url('must be a URL')
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http or https URL');
const free = z.record(z.unknown());
/** Where the guide sends `"url": "N/A"`, any string (or none) is accepted. */
const anyUrl = z.string().optional();

interface Shape {
  url?: z.ZodTypeAny;
  data?: z.ZodTypeAny;
  secret?: z.ZodTypeAny;
}

export type ServiceBody = { url?: string; data: Record<string, unknown>; secret: Record<string, unknown> };
export type ServiceSchema = z.ZodType<ServiceBody, z.ZodTypeDef, unknown>;

function service(shape: Shape = {}): ServiceSchema {
  // The parts are typed loosely (ZodTypeAny) so the table can hold every shape; the result is one type.
  return z
    .object({
      url: shape.url ?? anyUrl,
      data: (shape.data ?? free).default({}),
      secret: (shape.secret ?? free).default({}),
    })
    .strict() as unknown as ServiceSchema;
}

// --- SMS and email selectors -------------------------------------------------------------------

const SMS_PROVIDERS = ['mGage', 'Async', 'Portico'] as const;
const EMAIL_PROVIDERS = ['SparkPost', 'Async', 'Portico'] as const;

const sms = service({
  data: z
    .object({ provider: z.enum(SMS_PROVIDERS).optional(), tokenProvider: text.optional() })
    .passthrough()
    .refine((d) => d.provider !== undefined || d.tokenProvider !== undefined, {
      message: `is required: one of ${SMS_PROVIDERS.join(', ')} (or set data.tokenProvider)`,
      path: ['provider'],
    }),
});

const email = service({ data: z.object({ provider: z.enum(EMAIL_PROVIDERS) }).passthrough() });

// --- Async (the third-party messaging API) -----------------------------------------------------

const HEADER_NAME = /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const asyncData = z
  .object({
    channels: z
      .array(z.object({ channelId: text, webhook: z.object({ url: httpUrl }).passthrough() }).passthrough())
      .min(1, 'must list at least one channel'),
  })
  .catchall(z.unknown())
  .superRefine((d, ctx) => {
    // Besides `channels`, only static webhook headers (`header:<name>` = string) are allowed.
    for (const [key, value] of Object.entries(d)) {
      if (key === 'channels') continue;
      if (!HEADER_NAME.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'is not a known field (static headers are "header:<name>")',
        });
      } else if (typeof value !== 'string') {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be a string header value' });
      }
    }
  });

const asyncSecret = z
  .object({
    channels: z
      .array(
        z
          .object({
            channelId: text,
            webhook: z.object({ secret: text }).strict(),
            api: z.object({ secret: text }).strict(),
          })
          .strict(),
      )
      .min(1, 'must list at least one channel'),
  })
  .strict();

const asyncService = service({ data: asyncData, secret: asyncSecret }).superRefine((b, ctx) => {
  // A channel without its signing secrets could neither sign webhooks nor verify API calls.
  const secretIds = new Set((b.secret as z.infer<typeof asyncSecret>).channels.map((c) => c.channelId));
  (b.data as z.infer<typeof asyncData>).channels.forEach((c, i) => {
    if (!secretIds.has(c.channelId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret', 'channels'],
        message: `has no entry for channelId "${c.channelId}" (data.channels.${i})`,
      });
    }
  });
});

// --- Bots (answered by athena) ------------------------------------------------------------------

const botData = z.discriminatedUnion('provider', [
  z
    .object({
      provider: z.literal('DialogflowCX'),
      projectId: text,
      location: text.default('global'),
      agentId: text,
      languageCode: text.optional(),
      environment: text.optional(),
    })
    .passthrough(),
  z
    .object({ provider: z.literal('DialogflowES'), projectId: text, languageCode: text.optional() })
    .passthrough(),
  z
    .object({ provider: z.literal('LexV2'), botId: text, botAliasId: text, localeId: text, region: text })
    .passthrough(),
  z.object({ provider: z.literal('Webhook') }).passthrough(),
]);

const bot = service({ url: httpUrl.optional(), data: botData }).superRefine((b, ctx) => {
  if ((b.data as { provider: string }).provider === 'Webhook' && !b.url) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'is required for a Webhook bot' });
  }
});

// --- The table ---------------------------------------------------------------------------------

const EXACT: Record<string, ServiceSchema> = {
  SMS: sms,
  mGageSMS: service({ url: httpUrl, secret: z.object({ username: text, password: text }).strict() }),
  Async: asyncService,
  PurecloudIDP: service({ url: httpUrl, secret: z.object({ clientId: text, clientSecret: text }).strict() }),
  PorticoSMS: service({ url: httpUrl }),
  PorticoEmail: service({ url: httpUrl }),
  Email: email,
  SparkPostEmail: service({ url: httpUrl, secret: z.object({ apikey: text }).strict() }),
  PlatformUCS: service({ url: httpUrl }),
  TwilioSMS: service({
    url: httpUrl.optional(),
    data: z.object({ accountSid: text }).passthrough(),
    secret: z.object({ authToken: text }).strict(),
  }),
};

const FAMILIES: ReadonlyArray<{ prefix: string; schema: ServiceSchema }> = [
  {
    prefix: 'WebhookTransportTarget-',
    schema: service({ url: httpUrl, secret: z.object({ signingKey: text.optional() }).catchall(z.string()) }),
  },
  { prefix: 'Bot-', schema: bot },
  // Interaction webhooks: STARTED/FINISHED notifications, signed with the signing key.
  {
    prefix: 'InteractionWebhook-',
    schema: service({ url: httpUrl, secret: z.object({ signingKey: text }).strict() }),
  },
  // A third-party plugin instance: its own config schema is checked by the plugin runtime.
  { prefix: 'Plugin-', schema: service({ url: httpUrl.optional() }) },
];

const SUFFIX = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const KNOWN_SERVICE_NAMES: readonly string[] = [
  ...Object.keys(EXACT),
  ...FAMILIES.map((f) => `${f.prefix}<name>`),
];

/** The schema for a service name; UNKNOWN_SERVICE (400, code 1008) when the name is not known. */
export function serviceSchema(name: string): ServiceSchema {
  if (Object.hasOwn(EXACT, name)) return EXACT[name];
  for (const f of FAMILIES) {
    if (name.startsWith(f.prefix) && SUFFIX.test(name.slice(f.prefix.length))) return f.schema;
  }
  throw new AppError(
    'UNKNOWN_SERVICE',
    `"${name.slice(0, 100)}" is not a known service name. Known: ${KNOWN_SERVICE_NAMES.join(', ')} ` +
      '(<name>: letters, digits, "_", "-", ".").',
    { field: 'serviceName' },
  );
}

/** Deeper than any provider's settings need; also keeps recursive code (sealing, secretFields) safe. */
export const MAX_DEPTH = 16;

/** The top-level field under which the body nests deeper than `max`, found without recursion. */
function tooDeep(body: unknown, max: number): string | undefined {
  const stack: Array<[unknown, number, string]> = [[body, 0, '']];
  while (stack.length > 0) {
    const [v, depth, top] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return top || 'body';
    for (const [k, x] of Object.entries(v)) stack.push([x, depth + 1, top || k]);
  }
  return undefined;
}

/** Checks a body against its service's schema; VALIDATION_FAILED names the field. */
export function parseServiceBody(name: string, body: unknown): ServiceBody {
  const schema = serviceSchema(name);
  const deep = tooDeep(body, MAX_DEPTH);
  if (deep)
    throw new AppError('VALIDATION_FAILED', `${deep} nests deeper than ${MAX_DEPTH} levels.`, {
      field: deep,
    });
  return parseOrThrow(schema, body);
}

/**
 * The dotted paths of the leaves present in a secret, e.g. `["username","password"]` or
 * `["channels.0.channelId","channels.0.webhook.secret",…]`: shows what is set without the values.
 */
export function secretFields(secret: unknown, prefix = ''): string[] {
  if (secret === null || typeof secret !== 'object') return prefix ? [prefix] : [];
  const entries = Array.isArray(secret)
    ? secret.map((v, i) => [String(i), v] as const)
    : Object.entries(secret);
  if (entries.length === 0) return prefix ? [prefix] : [];
  return entries.flatMap(([k, v]) => secretFields(v, prefix ? `${prefix}.${k}` : k));
}
