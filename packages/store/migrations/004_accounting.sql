-- Accounting: packets, bytes and flows per (time bucket, edge, uplink
-- interface, l7 protocol, direction). Edges send per-interval deltas that
-- are added to 1-minute buckets; rollup_accounting recomputes 1-hour buckets
-- from the minutes and 1-day buckets from the hours. Transit is billed per
-- link, so the interface is part of the key; the direction is the customer
-- side's: 'in' towards the customers, 'out' from them. Buckets are UTC and
-- named by their start.

CREATE TABLE accounting_1m (
  bucket      timestamptz NOT NULL CHECK (bucket = date_bin('1 minute', bucket, timestamptz '1970-01-01 00:00:00+00')),
  edge        text        NOT NULL CHECK (length(edge) BETWEEN 1 AND 64),
  iface       text        NOT NULL CHECK (length(iface) BETWEEN 1 AND 64),
  l7_protocol text        NOT NULL CHECK (length(l7_protocol) BETWEEN 1 AND 64),
  direction   text        NOT NULL CHECK (direction IN ('in', 'out')),
  flows       bigint      NOT NULL CHECK (flows >= 0),
  packets     bigint      NOT NULL CHECK (packets >= 0),
  bytes       bigint      NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (bucket, edge, iface, l7_protocol, direction)
) PARTITION BY RANGE (bucket);

INSERT INTO partitioned_tables (parent) VALUES ('accounting_1m');

-- The rollups are small (one row per key and hour or day) and kept whole:
-- retention drops minutes, never these.
CREATE TABLE accounting_1h (
  bucket      timestamptz NOT NULL CHECK (bucket = date_bin('1 hour', bucket, timestamptz '1970-01-01 00:00:00+00')),
  edge        text        NOT NULL,
  iface       text        NOT NULL,
  l7_protocol text        NOT NULL,
  direction   text        NOT NULL CHECK (direction IN ('in', 'out')),
  flows       bigint      NOT NULL,
  packets     bigint      NOT NULL,
  bytes       bigint      NOT NULL,
  PRIMARY KEY (bucket, edge, iface, l7_protocol, direction)
);

CREATE TABLE accounting_1d (
  bucket      timestamptz NOT NULL CHECK (bucket = date_bin('1 day', bucket, timestamptz '1970-01-01 00:00:00+00')),
  edge        text        NOT NULL,
  iface       text        NOT NULL,
  l7_protocol text        NOT NULL,
  direction   text        NOT NULL CHECK (direction IN ('in', 'out')),
  flows       bigint      NOT NULL,
  packets     bigint      NOT NULL,
  bytes       bigint      NOT NULL,
  PRIMARY KEY (bucket, edge, iface, l7_protocol, direction)
);

-- Hours whose minutes changed since they were last rolled up. A writer
-- marks its hours in the transaction that adds the deltas, with a row lock
-- (ON CONFLICT DO UPDATE) held to its commit, so a rollup that takes the
-- mark waits for that commit and then sees the deltas: a late delta (after
-- an outage, a redelivery) is rolled up however late it comes.
CREATE TABLE accounting_dirty_hours (
  bucket    timestamptz PRIMARY KEY,
  marked_at timestamptz NOT NULL DEFAULT now()
);

-- Recomputes the given hours from accounting_1m and the days they fall in
-- from accounting_1h: delete, then sum again, so running it twice gives the
-- same rows. Hours before the minutes' retention horizon are left as they
-- are (their minutes are gone; recomputing would erase them). Returns the
-- number of hours recomputed.
CREATE FUNCTION rollup_accounting_hours(p_hours timestamptz[])
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  epoch constant timestamptz := timestamptz '1970-01-01 00:00:00+00';
  minutes_from timestamptz;
  h timestamptz;
  d timestamptz;
  n integer := 0;
BEGIN
  -- One rollup at a time: two interleaved delete-and-insert runs would collide.
  PERFORM pg_advisory_xact_lock(hashtext('l7mesh.store.rollup'));
  SELECT horizon INTO minutes_from FROM partitioned_tables WHERE parent = 'accounting_1m';
  FOR h IN
    SELECT DISTINCT date_bin('1 hour', x, epoch) FROM unnest(p_hours) AS x
     WHERE x IS NOT NULL AND date_bin('1 hour', x, epoch) >= coalesce(minutes_from, '-infinity')
     ORDER BY 1
  LOOP
    DELETE FROM accounting_1h WHERE bucket = h;
    INSERT INTO accounting_1h (bucket, edge, iface, l7_protocol, direction, flows, packets, bytes)
    SELECT h, edge, iface, l7_protocol, direction, sum(flows), sum(packets), sum(bytes)
      FROM accounting_1m
     WHERE bucket >= h AND bucket < h + interval '1 hour'
     GROUP BY edge, iface, l7_protocol, direction;
    n := n + 1;
  END LOOP;
  FOR d IN
    SELECT DISTINCT date_bin('1 day', x, epoch) FROM unnest(p_hours) AS x
     WHERE x IS NOT NULL AND date_bin('1 hour', x, epoch) >= coalesce(minutes_from, '-infinity')
     ORDER BY 1
  LOOP
    DELETE FROM accounting_1d WHERE bucket = d;
    INSERT INTO accounting_1d (bucket, edge, iface, l7_protocol, direction, flows, packets, bytes)
    SELECT d, edge, iface, l7_protocol, direction, sum(flows), sum(packets), sum(bytes)
      FROM accounting_1h
     WHERE bucket >= d AND bucket < d + interval '24 hours'
     GROUP BY edge, iface, l7_protocol, direction;
  END LOOP;
  RETURN n;
END;
$$;

-- Recomputes every hour that overlaps [p_from, p_to).
CREATE FUNCTION rollup_accounting(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
    RAISE EXCEPTION 'rollup_accounting: bad range % .. %', p_from, p_to USING ERRCODE = '22023';
  END IF;
  IF p_to - p_from > interval '400 days' THEN
    RAISE EXCEPTION 'rollup_accounting: at most 400 days at once (asked % .. %)', p_from, p_to USING ERRCODE = '22023';
  END IF;
  RETURN rollup_accounting_hours(ARRAY(
    SELECT h FROM generate_series(date_bin('1 hour', p_from, timestamptz '1970-01-01 00:00:00+00'), p_to, interval '1 hour') AS h
     WHERE h < p_to));
END;
$$;

-- Recomputes the hours marked dirty, and takes their marks. A mark made by a
-- writer still in progress is taken only after that writer commits (see
-- accounting_dirty_hours), or stays for the next run.
CREATE FUNCTION rollup_accounting_dirty()
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  hours timestamptz[];
BEGIN
  WITH taken AS (DELETE FROM accounting_dirty_hours RETURNING bucket)
  SELECT coalesce(array_agg(bucket), '{}') INTO hours FROM taken;
  RETURN rollup_accounting_hours(hours);
END;
$$;
