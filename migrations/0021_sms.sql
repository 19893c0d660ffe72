-- SMS providers: inbound de-duplication, customer threads (which conversation a customer's number
-- writes into on a sender id), outbound SMS with their provider ids and delivery states, receipts
-- that arrived before the send was recorded, and media uploaded by third-party gateways.

-- One row per inbound provider message: providers retry with the same id, it is stored once.
-- conversation_id is NULL for cxcOnly channels (kept for the campaign API, never a chat).
CREATE TABLE sms_inbound (
  ccid                text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  service             text NOT NULL,
  provider_message_id text NOT NULL,
  channel_id          text NOT NULL,
  from_number         text NOT NULL,
  text                text,
  media               jsonb,
  conversation_id     uuid,
  message_id          uuid,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, service, provider_message_id)
);
CREATE INDEX sms_inbound_channel ON sms_inbound (ccid, channel_id, created_at);

-- The conversation a customer's number writes into on one sender id (re-opened while not Done).
CREATE TABLE sms_threads (
  ccid            text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  channel_key     text NOT NULL,
  customer        text NOT NULL,
  conversation_id uuid NOT NULL,
  participant_id  uuid NOT NULL,
  -- As provisioned (the sender id an answer leaves from) and the service that carries it.
  channel_id      text NOT NULL,
  service         text NOT NULL,
  max_attempts    integer NOT NULL DEFAULT 8,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, channel_key, customer)
);
CREATE UNIQUE INDEX sms_threads_conversation ON sms_threads (conversation_id);

-- One row per SMS that leaves for a conversation (an agent's or bot's reply).
CREATE TABLE sms_outbound (
  message_id          uuid PRIMARY KEY,
  ccid                text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  conversation_id     uuid NOT NULL,
  seq                 bigint NOT NULL,
  service             text NOT NULL,
  provider_message_id text,
  state               text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'sent', 'delivered', 'failed', 'undelivered')),
  error               text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sms_outbound_provider ON sms_outbound (ccid, service, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
CREATE INDEX sms_outbound_conversation ON sms_outbound (conversation_id);

-- A receipt whose provider id matches no recorded send yet (it overtook the send's answer); applied
-- when the send is recorded. Receipts for messages sent by others (campaigns) also rest here.
CREATE TABLE sms_early_receipts (
  ccid                text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  service             text NOT NULL,
  provider_message_id text NOT NULL,
  state               text NOT NULL,
  error               text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, service, provider_message_id)
);

-- Files a third-party gateway uploads (POST /channels/{channelId}/media) for a RichMedia message.
CREATE TABLE sms_media (
  id          uuid PRIMARY KEY,
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  channel_id  text NOT NULL,
  filename    text NOT NULL,
  mimetype    text NOT NULL,
  length      integer NOT NULL,
  content     bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
