// Types of the example plugin, for TypeScript code that imports it (its tests).
import type { BusEvent, PluginDefinition } from 'nexus-gateway/sdk';

declare const plugin: PluginDefinition<'webhook'>;
export default plugin;
export function describe(event: BusEvent): string | undefined;
