-- Outbound campaign messages (SMS and email through a tenant's channel): what was asked, which
-- provider service carries it, and its normalised delivery state. The delivery itself is an
-- outbox row (outbox_id), so it is durable and retried; receipts move the state forward.
CREATE TABLE outbound_messages (
  id                  uuid PRIMARY KEY,
  ccid                text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  client_message_id   text,
  request_hash        text NOT NULL,
  channel_type        text NOT NULL CHECK (channel_type IN ('sms', 'email')),
  section             text NOT NULL,
  channel_id          text NOT NULL,
  service             text NOT NULL,
  recipient           text NOT NULL,
  -- from, subject, text, html, ... as the provider will be given them.
  content             jsonb NOT NULL,
  state               text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'undelivered')),
  provider_message_id text,
  error               text,
  outbox_id           bigint,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
-- A retried send with the same clientMessageId is the same message.
CREATE UNIQUE INDEX outbound_messages_client_id ON outbound_messages (ccid, client_message_id)
  WHERE client_message_id IS NOT NULL;
-- Receipts name the provider's id.
CREATE INDEX outbound_messages_provider_id ON outbound_messages (ccid, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
