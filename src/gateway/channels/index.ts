/** Channels (sender ids and email domains): what other modules, inbound providers first, may import. */
export { channelKey, checkSection, parseChannelBody, SECTION } from './schema.js';
export { type ChannelStoreDeps, channelByChannelId, createChannelStore } from './store.js';
export {
  CHANNEL_PROVIDERS,
  CHANNEL_TYPES,
  CHANNELS_CHANGED,
  type ChannelChange,
  type ChannelInput,
  type ChannelLookup,
  type ChannelProvider,
  type ChannelRecord,
  type ChannelStore,
  type ChannelType,
} from './types.js';
