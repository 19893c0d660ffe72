-- Services: the names of the secret's fields, so answers can list them without decrypting.
ALTER TABLE services ADD COLUMN secret_fields jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Channels: `channel_id` holds the routing key (trimmed, lower-case, no leading '+'); one sender id
-- or email domain routes to exactly one tenant and section.
DROP INDEX IF EXISTS channels_channel_id;
CREATE UNIQUE INDEX channels_channel_id_key ON channels (channel_id);
