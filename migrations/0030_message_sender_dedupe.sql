-- A clientMessageId is the sender's own: retries of one send by one participant fold onto the
-- first, and nobody else's message can be reached (or pre-empted) by guessing its key. Keyed by
-- the conversation alone, a customer who sent another participant's key (e.g. an agents-only
-- notice's `<message id>:handoff`) was answered with that message, internal text included.
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_client_message_id_key;
CREATE UNIQUE INDEX messages_sender_client_message_id
  ON messages (conversation_id, from_type, from_participant_id, client_message_id)
  WHERE client_message_id IS NOT NULL;
