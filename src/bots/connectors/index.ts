/**
 * The table of bot connectors, by `data.provider` of a `Bot-<name>` service. One entry per file of
 * this folder; a provider without an entry is refused loudly (`connectorFor` throws naming it),
 * never answered by a stand-in.
 */
import { dialogflowCxConnector } from './dialogflow-cx.js';
import { dialogflowEsConnector } from './dialogflow-es.js';
import { lexV2Connector } from './lex-v2.js';
import { type BotProvider, BotConnectorError, type ConnectorFactory } from './types.js';
import { webhookConnector } from './webhook.js';

export const CONNECTORS: Partial<Record<BotProvider, ConnectorFactory>> = {
  DialogflowCX: dialogflowCxConnector,
  DialogflowES: dialogflowEsConnector,
  LexV2: lexV2Connector,
  Webhook: webhookConnector,
};

export function connectorFor(provider: string): ConnectorFactory {
  const f = Object.hasOwn(CONNECTORS, provider) ? CONNECTORS[provider as BotProvider] : undefined;
  if (!f) throw new BotConnectorError(`no bot connector for provider "${provider}"`, 'config');
  return f;
}

export * from './types.js';
