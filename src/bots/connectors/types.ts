/**
 * The bot connector interface athena drives. One file per provider (`webhook.ts`,
 * `dialogflow-cx.ts`, `dialogflow-es.ts`, `lex-v2.ts`), each a factory registered in the table of
 * `index.ts`. The turn itself is the plugin SDK's canonical one (`BotTurnInput` → `BotTurn`), so a
 * bot written as a third-party plugin and a built-in connector speak the same shapes.
 *
 * A connector maps its provider's answer to `BotTurn` and nothing else: richer content stays
 * structured (`quickReplies`, `cards`, `image`); degrading it to text for text-only channels is
 * done once, by `toPlainText`, never in a connector. Provider failures are thrown as
 * `BotConnectorError` (wrapped once, at the edge, with `cause`); athena turns any failure or a
 * timeout into a handoff with a reason.
 */
import { type HttpClient, PluginError } from '../../plugins/types.js';
import type { Logger } from '../../shared/logger.js';

export type {
  BotConnector,
  BotReply,
  BotTurn,
  BotTurnInput,
} from '../../plugins/types.js';
export { toPlainText } from '../../plugins/types.js';

/** The providers a `Bot-<name>` service may name in `data.provider`. */
export const BOT_PROVIDERS = ['DialogflowCX', 'DialogflowES', 'LexV2', 'Webhook'] as const;
export type BotProvider = (typeof BOT_PROVIDERS)[number];

/**
 * A tenant's bot as athena reads it from the gateway: the `Bot-<name>` service with its secret
 * opened. `data` holds the provider's settings (`projectId`, `location`, `agentId`, `botId`,
 * `botAliasId`, `localeId`, `region`, …); `secret` its credentials (a Google service-account key,
 * AWS access keys, a webhook token).
 */
export interface BotSettings {
  /** The bot's name: the service is `Bot-<name>`. */
  name: string;
  ccid: string;
  provider: BotProvider;
  url?: string;
  data: Record<string, unknown>;
  secret: Record<string, unknown>;
  /** Changes whenever the service changes (its `updated` time); caches compare it. */
  version: string;
}

/** What a connector factory is given: exactly what it needs, never athena itself. */
export interface ConnectorDeps {
  log: Logger;
  /** An HTTP client with timeouts (the webhook bot; REST fallbacks). */
  http: HttpClient;
  /** The time a turn may take; athena also enforces it from outside. */
  timeoutMs: number;
}

/** Builds a connector for one bot; throws BotConnectorError when the settings do not fit. */
export type ConnectorFactory = (
  settings: BotSettings,
  deps: ConnectorDeps,
) => import('../../plugins/types.js').BotConnector;

/**
 * A provider failure, wrapped once at the edge. `kind` lets athena name the handoff reason; as a
 * PluginError it also says whether the same turn may succeed when retried (a provider that is down
 * or slow may recover; a refusal or a bad setting will not).
 */
export class BotConnectorError extends PluginError {
  readonly kind: 'config' | 'unavailable' | 'rejected' | 'timeout';

  constructor(
    message: string,
    kind: 'config' | 'unavailable' | 'rejected' | 'timeout',
    opts: { cause?: unknown; status?: number } = {},
  ) {
    super(message, {
      retryable: kind === 'unavailable' || kind === 'timeout',
      status: opts.status,
      cause: opts.cause,
    });
    this.name = 'BotConnectorError';
    this.kind = kind;
  }
}
