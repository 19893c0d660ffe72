-- The interaction lifecycle of a conversation: `started` (submitted to a queue) and `finished`
-- (done), each published once on the plugin bus (and so to the interaction webhooks). The row is
-- written in the transaction of the change that causes the event, with the event's outbox rows.
CREATE TABLE interaction_events (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  event           text NOT NULL CHECK (event IN ('started', 'finished')),
  event_id        uuid NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, event)
);
