-- Routing: chat endpoints (which queue and bot a chat on an endpoint goes to), agents with their
-- queues, capacity and presence, contacts, and agent feedback on suggestions.
CREATE TABLE chat_endpoints (
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  endpoint    text NOT NULL,
  queue       text NOT NULL,
  bot         text,
  async_hold  boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, endpoint)
);

CREATE TABLE agents (
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  agent_id    text NOT NULL,
  name        text NOT NULL,
  queues      text[] NOT NULL,
  capacity    integer NOT NULL CHECK (capacity >= 0),
  -- Presence lives here, not in a node's memory, so every node routes on the same facts.
  state       text NOT NULL DEFAULT 'notready' CHECK (state IN ('ready', 'notready')),
  -- Longest idle = oldest of (became ready, last given a conversation); see routing/router.ts.
  idle_since  timestamptz NOT NULL DEFAULT now(),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, agent_id)
);
CREATE INDEX agents_queues ON agents USING gin (queues);

-- One row per live agent socket; a node refreshes its rows and a crashed node's rows expire.
CREATE TABLE agent_connections (
  socket_id   text PRIMARY KEY,
  ccid        text NOT NULL,
  agent_id    text NOT NULL,
  node_id     text NOT NULL,
  expires_at  timestamptz NOT NULL,
  FOREIGN KEY (ccid, agent_id) REFERENCES agents (ccid, agent_id) ON DELETE CASCADE
);
CREATE INDEX agent_connections_agent ON agent_connections (ccid, agent_id, expires_at);

CREATE TABLE contacts (
  id          uuid PRIMARY KEY,
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  email       text,
  phone       text,
  first_name  text,
  last_name   text,
  nickname    text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Emails are matched case-insensitively, phones by their digits; one contact per value.
CREATE UNIQUE INDEX contacts_email ON contacts (ccid, lower(email)) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_phone ON contacts (ccid, phone) WHERE phone IS NOT NULL;

CREATE TABLE suggestion_feedback (
  id            uuid PRIMARY KEY,
  ccid          text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  agent_id      text NOT NULL,
  suggestion_id text NOT NULL,
  action        text NOT NULL CHECK (action IN ('used', 'edited', 'dismissed')),
  text          text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suggestion_feedback_suggestion ON suggestion_feedback (ccid, suggestion_id);
