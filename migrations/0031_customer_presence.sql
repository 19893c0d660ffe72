-- Durable customer presence (routing/presence.ts): when a node last saw the conversation's
-- customer, i.e. a live /consumer socket on it (each node marks its own in one statement every
-- presenceTtlMs / 3) or a REST request of a session. The sweep of any node lets go of a
-- conversation nobody has seen for customerGraceMs + presenceTtlMs (async hold, or Done on an
-- endpoint without it), so a customer's leaving survives the node that knew of it being killed.
-- Existing rows start as seen now (a constant default: no table rewrite); no index covers the
-- column, so a mark stays a HOT update.
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS customer_seen_at timestamptz NOT NULL DEFAULT now();

-- The sweep's question, without a scan of every finished conversation: the routed live chats.
CREATE INDEX IF NOT EXISTS conversations_customer_watch ON conversations (state)
  WHERE state IN ('bot', 'queued', 'assigned') AND channel = 'chat';
