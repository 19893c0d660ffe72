/** What every email provider fake offers the contract suite: the emails it accepted, normalised. */
import type { FakeServer } from '../../../src/plugins/testing.js';

export interface AcceptedEmail {
  /** The provider's id for it (what the plugin must report as providerMessageId). */
  providerId: string;
  from: string;
  to: string;
  subject: string;
  text?: string;
  html?: string;
}

export interface EmailFake {
  readonly server: FakeServer;
  readonly url: string;
  /** Emails accepted (authenticated, well-formed), in order. */
  readonly accepted: AcceptedEmail[];
  close(): Promise<void>;
}
