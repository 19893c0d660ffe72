-- The paths of a service's secret fields outside `secret` (a plugin's `secret()` fields in `data`
-- or `url`, e.g. "data.apiKey"), sealed with the secret and so missing from `data`: answers list
-- them as `sealedFields` so that a client sees what is set without the values.
ALTER TABLE services ADD COLUMN IF NOT EXISTS sealed_fields jsonb NOT NULL DEFAULT '[]'::jsonb;
