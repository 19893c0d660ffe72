-- Early receipts that no send ever claims (another system's message, a send lost before its
-- answer) expire after a bounded age: the receipt route deletes the oldest few each time it keeps
-- one, which this index makes a short range scan instead of a walk over the table.
CREATE INDEX IF NOT EXISTS sms_early_receipts_created ON sms_early_receipts (created_at);
