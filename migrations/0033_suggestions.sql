-- Agent-assist suggestions as they were offered (bot-routes.ts): what was suggested, in which
-- conversation, to which agent. An agent's feedback (suggestion_feedback, routing/actions.ts) is
-- taken only for a suggestion of its own tenant that was offered to that agent; any other id is
-- refused with SUGGESTION_NOT_FOUND and nothing is stored.
CREATE TABLE IF NOT EXISTS suggestions (
  id              uuid PRIMARY KEY,
  ccid            text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  -- The agent who owned the conversation when it was offered: the one it was shown to.
  agent_id        text NOT NULL,
  text            text NOT NULL,
  content         jsonb,
  confidence      real,
  source          text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS suggestions_conversation ON suggestions (conversation_id);
