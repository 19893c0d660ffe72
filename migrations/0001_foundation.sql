-- Tenants (contact centers), API keys, provisioned services and channels.
CREATE TABLE tenants (
  ccid        text PRIMARY KEY,
  name        text NOT NULL,
  type        text,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id          uuid PRIMARY KEY,
  key_hash    text NOT NULL UNIQUE,
  key_prefix  text NOT NULL,
  tenant      text NOT NULL,
  name        text NOT NULL,
  permissions jsonb NOT NULL,
  enabled     boolean NOT NULL DEFAULT true,
  revoked     boolean NOT NULL DEFAULT false,
  revoked_at  timestamptz,
  expires     timestamptz,
  capacity    integer NOT NULL,
  frequency   integer NOT NULL,
  createdby   text NOT NULL,
  created     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE services (
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  name        text NOT NULL,
  url         text,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  secret_enc  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, name)
);

CREATE TABLE channels (
  ccid        text NOT NULL REFERENCES tenants (ccid) ON DELETE CASCADE,
  section     text NOT NULL,
  channel_id  text NOT NULL,
  channel_type text NOT NULL,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ccid, section)
);
CREATE INDEX channels_channel_id ON channels (channel_id);
