-- Chat: conversations (on any channel), consumer chat sessions, and the durable message log.
-- A message is identified by (conversation_id, seq): seq is 1, 2, 3... per conversation with no
-- gaps, handed out under the conversation row's lock by the group-commit writer (last_seq).
CREATE TABLE conversations (
  id          uuid PRIMARY KEY,
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  channel     text NOT NULL DEFAULT 'chat' CHECK (channel IN ('chat', 'sms', 'email')),
  endpoint    text NOT NULL DEFAULT '',
  state       text NOT NULL DEFAULT 'queued'
              CHECK (state IN ('bot', 'queued', 'assigned', 'asynchold', 'undelivered', 'done')),
  queue       text,
  agent_id    text,
  -- nickname, firstName, lastName, email, phone.
  customer    jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- The widget's custom keys (data[ChatProfile], ...), kept as they came.
  user_data   jsonb NOT NULL DEFAULT '{}'::jsonb,
  contact_id  uuid,
  last_seq    bigint NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_ccid_state ON conversations (ccid, state, updated_at);
CREATE INDEX conversations_ccid_agent ON conversations (ccid, agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX conversations_contact ON conversations (ccid, contact_id) WHERE contact_id IS NOT NULL;

-- One customer's connection to a conversation (the Chat v3 session behind a client token).
CREATE TABLE chat_sessions (
  id              uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  ccid            text NOT NULL,
  participant_id  uuid NOT NULL,
  transport_id    uuid NOT NULL,
  nickname        text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  ended_at        timestamptz
);
CREATE INDEX chat_sessions_conversation ON chat_sessions (conversation_id);

CREATE TABLE messages (
  conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq                 bigint NOT NULL,
  id                  uuid NOT NULL UNIQUE,
  type                text NOT NULL,
  from_participant_id text NOT NULL,
  from_type           text NOT NULL CHECK (from_type IN ('Customer', 'Agent', 'Bot', 'System')),
  from_nickname       text,
  text                text,
  content             jsonb,
  client_message_id   text,
  visibility          text NOT NULL DEFAULT 'all' CHECK (visibility IN ('all', 'agents')),
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, seq),
  -- Retries of one send fold onto the first (NULLs, e.g. system notices, never collide).
  UNIQUE (conversation_id, client_message_id)
);
