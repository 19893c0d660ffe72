/**
 * The table of bot connectors, by `data.provider` of a `Bot-<name>` service. One entry per file of
 * this folder; a provider without an entry is refused loudly (`connectorFor` throws naming it),
 * never answered by a stand-in.
 *
 * Dialogflow CX (`dialogflow-cx.ts`), Dialogflow ES (`dialogflow-es.ts`) and Lex V2 (`lex-v2.ts`)
 * add their factories here.
 */
import { type BotProvider, BotConnectorError, type ConnectorFactory } from './types.js';
import { webhookConnector } from './webhook.js';

export const CONNECTORS: Partial<Record<BotProvider, ConnectorFactory>> = {
  Webhook: webhookConnector,
};

export function connectorFor(provider: string): ConnectorFactory {
  const f = Object.hasOwn(CONNECTORS, provider) ? CONNECTORS[provider as BotProvider] : undefined;
  if (!f) throw new BotConnectorError(`no bot connector for provider "${provider}"`, 'config');
  return f;
}

export * from './types.js';
