-- 0011: each channel order's row names the providers it was sent to, in order, the last its
-- provider now ("7,9": routed to 7, refused there with nothing moved, re-routed to 9; issue 15,
-- docs/channels.md "Routing"). Written before the order's first submit to a provider, so a
-- restart asks the provider the order is at. Rows written before, and every order of another
-- kind, say '' (a channel order then is at the channel its command names). Applied once per
-- shard database, once per table index {t}; safe to re-run.
ALTER TABLE orders_{t} ADD COLUMN IF NOT EXISTS route VARCHAR(96) NOT NULL DEFAULT '';
