-- The durable outbox: deliveries that must not be lost (SMS, email, webhooks, the AI connector),
-- written in the same transaction as what causes them, delivered at least once in order per key.
CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  ccid            text NOT NULL,
  ordering_key    text NOT NULL,
  kind            text NOT NULL,
  target          text NOT NULL,
  payload         jsonb NOT NULL,
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  max_attempts    integer NOT NULL DEFAULT 8,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_until    timestamptz,
  last_error      text,
  result          jsonb,
  dedupe_key      text UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_key ON outbox (ordering_key, id) WHERE state = 'pending';
CREATE INDEX outbox_tenant_state ON outbox (ccid, state, id);
