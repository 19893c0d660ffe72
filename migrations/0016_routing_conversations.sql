-- Routing's bookkeeping on conversations (additive to 0010_chat.sql): when a conversation entered
-- its queue (first come, first served), who had it last (async hold re-opens to them), and when
-- it was assigned and finished.
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS queued_at timestamptz;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS assigned_at timestamptz;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS done_at timestamptz;
ALTER TABLE conversations ADD COLUMN IF NOT EXISTS last_agent_id text;

-- The router's two hot questions: the oldest queued conversation of a tenant, and an agent's load.
CREATE INDEX IF NOT EXISTS conversations_queued ON conversations (ccid, queued_at, created_at) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS conversations_agent_load ON conversations (ccid, agent_id) WHERE state = 'assigned';
