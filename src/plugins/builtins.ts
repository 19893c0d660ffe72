/**
 * The table of built-in plugins: each plugin and the service names it serves (a name ending in `-`
 * is a prefix, e.g. `WebhookTransportTarget-`). Third-party plugins are served as `Plugin-<name>`.
 * One service may serve two kinds (`Async`: SMS and email), each through its own plugin.
 */
import { asyncEmail } from './email/async.js';
import { porticoEmail } from './email/portico.js';
import { sparkPostEmail } from './email/sparkpost.js';
import type { PluginDefinition } from './sdk.js';
import { asyncSms } from './sms/async.js';
import { kaleyraSms } from './sms/kaleyra.js';
import { porticoSms } from './sms/portico.js';
import { twilioSms } from './sms/twilio.js';
import { interactionWebhook } from './webhooks/interactions.js';

export interface BuiltinPlugin {
  plugin: PluginDefinition;
  services: string[];
  /** Other services of the tenant the plugin's config includes (as `services.<name>`). */
  uses?: string[];
}

export const BUILTIN_PLUGINS: BuiltinPlugin[] = [
  { plugin: sparkPostEmail, services: ['SparkPostEmail'] },
  { plugin: asyncEmail, services: ['Async'] },
  { plugin: porticoEmail, services: ['PorticoEmail'], uses: ['PurecloudIDP'] },
  { plugin: asyncSms, services: ['Async'] },
  { plugin: kaleyraSms, services: ['mGageSMS'] },
  { plugin: porticoSms, services: ['PorticoSMS'], uses: ['PurecloudIDP'] },
  { plugin: twilioSms, services: ['TwilioSMS'] },
  { plugin: interactionWebhook, services: ['InteractionWebhook-'] },
];
