import type { Unsubscribe } from '../../shared/state/types.js';

export const CHANNEL_TYPES = ['sms', 'email'] as const;
export const CHANNEL_PROVIDERS = ['mGage', 'Async', 'Portico', 'Twilio'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];
export type ChannelProvider = (typeof CHANNEL_PROVIDERS)[number];

/** A sender id (`chat.*` section) or an email domain (`cxc.*` section) of a tenant. */
export interface ChannelRecord {
  ccid: string;
  section: string;
  /** As provisioned (`16504661149`, `company.com`). */
  channelId: string;
  channelType: ChannelType;
  endpoint?: string;
  interactionSubtype?: string;
  interactionType?: string;
  media?: string;
  /** CX Contact only: inbound messages are not handled as chats. */
  cxcOnly: boolean;
  /** null for an email domain without one: the tenant's `Email` service chooses. */
  provider: ChannelProvider | null;
  created: string;
  updated: string;
}

export type ChannelInput = Omit<ChannelRecord, 'ccid' | 'section' | 'created' | 'updated'>;

export interface ChannelChange {
  ccid: string;
  section: string;
  /** The routing key of the channelId (before and after a change, both are announced). */
  channelKey: string;
  op: 'created' | 'replaced' | 'deleted';
}

/** What inbound providers use: find the tenant and section a sender id or domain belongs to. */
export interface ChannelLookup {
  channelByChannelId(channelId: string): Promise<ChannelRecord | undefined>;
  onChange(listener: (change: ChannelChange) => void): Promise<Unsubscribe>;
}

export interface ChannelStore extends ChannelLookup {
  get(ccid: string, section: string): Promise<ChannelRecord | undefined>;
  list(ccid: string): Promise<ChannelRecord[]>;
  /** CHANNEL_ID_TAKEN when the channelId is another section's (of any tenant). */
  put(
    ccid: string,
    section: string,
    input: ChannelInput,
  ): Promise<{ record: ChannelRecord; created: boolean }>;
  /** CHANNEL_NOT_FOUND when absent; answers the removed record. */
  delete(ccid: string, section: string): Promise<ChannelRecord>;
}

export const CHANNELS_CHANGED = 'channels:changed';
