import type { NexusConfig } from '../shared/config.js';
import type { Database } from '../shared/db/pool.js';
import type { Router } from '../shared/http/router.js';
import type { Component } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import type { Registry } from '../shared/metrics.js';
import type { SharedState } from '../shared/state/types.js';
import type { Auth } from './auth/auth.js';
import type { ChatService } from './chat/service.js';
import type { PluginRuntime } from '../plugins/runtime.js';
import type { SecretBox } from './secret-box.js';
import type { ServiceReader } from './services/types.js';

/** What a gateway module is given: exactly the parts it may use, never the server. */
export interface GatewayDeps {
  readonly config: NexusConfig;
  readonly log: Logger;
  readonly db: Database;
  readonly state: SharedState;
  readonly registry: Registry;
  readonly secrets: SecretBox;
  readonly auth: Auth;
  readonly adminToken: string;
  /** Conversations, messages, realtime delivery; routing registers its hooks here. */
  readonly chat: ChatService;
  /** A module's long-lived parts (timers, listeners): started after the stores and chat, closed before them. */
  readonly components: { add(part: Component): void };
  /** Provisioned services, secrets opened on request (for providers and athena). */
  readonly services: ServiceReader;
  /** The outbox, the plugin bus and the plugin host; register handlers/planners in `plugins.onStart`. */
  readonly plugins: PluginRuntime;
}

/** A module adds its routes to the router. */
export type RouteModule = (router: Router, deps: GatewayDeps) => void;
