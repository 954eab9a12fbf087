-- Top talkers by host over long ranges: the traffic of the flows each host
-- originated (side 'src') or answered (side 'dst'), per UTC hour and day of
-- the flows' start, zone by zone. topTalkers by src/dst reads them for the
-- whole hours and days of its range; the flows answer the rest (see
-- docs/store.md).
--
-- A flow's counters are replaced by each newer record, never added up, so
-- the writers cannot add deltas here: like the accounting rollups, an hour
-- is summed again from the flows that started in it. Writers mark the
-- hours of the flows they wrote (flow_dirty_hours); a rollup takes the
-- marks and recomputes those hours, and moves their days by what changed.

CREATE TABLE host_traffic_1h (
  bucket  timestamptz NOT NULL CHECK (bucket = date_bin('1 hour', bucket, timestamptz '1970-01-01 00:00:00+00')),
  side    text        NOT NULL CHECK (side IN ('src', 'dst')),
  zone    bigint      NOT NULL,
  host    inet        NOT NULL,
  -- Flows that started in the bucket, and their latest counters, both directions.
  flows   bigint      NOT NULL,
  packets bigint      NOT NULL,
  bytes   bigint      NOT NULL,
  -- Side first: every query reads one side over a range of buckets; the
  -- counters included, so that it reads the index alone (an hour of hosts
  -- is many rows: about as many as the hour has flows, when hosts make few).
  PRIMARY KEY (side, bucket, zone, host) INCLUDE (flows, packets, bytes)
);

CREATE TABLE host_traffic_1d (
  bucket  timestamptz NOT NULL CHECK (bucket = date_bin('1 day', bucket, timestamptz '1970-01-01 00:00:00+00')),
  side    text        NOT NULL CHECK (side IN ('src', 'dst')),
  zone    bigint      NOT NULL,
  host    inet        NOT NULL,
  flows   bigint      NOT NULL,
  packets bigint      NOT NULL,
  bytes   bigint      NOT NULL,
  PRIMARY KEY (side, bucket, zone, host) INCLUDE (flows, packets, bytes)
);

-- Hours (of first_seen) whose flows changed since they were last rolled
-- up. The flow writer marks its hours in the transaction that writes the
-- flows, with a row lock (ON CONFLICT DO UPDATE) held to its commit, so a
-- rollup that takes the mark waits for that commit and then sees the flows
-- (as with accounting_dirty_hours). Queries read a marked hour from the
-- flows, not from the rollup, so an answer is never staler than the flows.
CREATE TABLE flow_dirty_hours (
  bucket    timestamptz PRIMARY KEY,
  marked_at timestamptz NOT NULL DEFAULT now()
);

-- The rollup reads the flows of one hour at a time, and queries read the
-- flows of a few hours; without it, each would scan a whole day's partition.
CREATE INDEX flows_first_seen ON flows (first_seen);

-- Flows written before this migration have no rollup yet: their hours are
-- marked, so queries read them from the flows until a rollup has run.
INSERT INTO flow_dirty_hours (bucket)
SELECT DISTINCT date_bin('1 hour', first_seen, timestamptz '1970-01-01 00:00:00+00') FROM flows;

-- Dedupe keys only ever arrive in ingested_at order and are deleted by it
-- (retention): a BRIN index answers that as well as a B-tree at a fraction
-- of the cost per insert, which ingestion pays once per record.
DROP INDEX ingested_events_ingested_at;
CREATE INDEX ingested_events_ingested_at ON ingested_events USING brin (ingested_at);

-- Recomputes the given hours of both sides from the flows that started in
-- them, and brings their days along. Running it twice gives the same rows.
-- Hours before the flows' retention horizon are left as they are (their
-- flows are gone; recomputing would erase them). Returns the number of
-- hours recomputed.
--
-- An hour is summed again from its flows and compared with its rows; only
-- the rows that differ are written, and their differences are added to the
-- day's rows. So a day stays the sum of its hours without being summed
-- again from all 24 of them at every run (the current hour is dirty all
-- the time, and a day of hosts is many rows). p_resum_days also sums each
-- day again from its hours afterwards: rollup_hosts does, as a repair.
CREATE FUNCTION rollup_host_hours(p_hours timestamptz[], p_resum_days boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  epoch constant timestamptz := timestamptz '1970-01-01 00:00:00+00';
  flows_from timestamptz;
  h timestamptz;
  d timestamptz;
  gone bigint;
  n integer := 0;
BEGIN
  -- One host rollup at a time: two interleaved runs would collide.
  PERFORM pg_advisory_xact_lock(hashtext('l7mesh.store.rollup_hosts'));
  SELECT horizon INTO flows_from FROM partitioned_tables WHERE parent = 'flows';
  FOR h IN
    SELECT DISTINCT date_bin('1 hour', x, epoch) FROM unnest(p_hours) AS x
     WHERE x IS NOT NULL AND date_bin('1 hour', x, epoch) >= coalesce(flows_from, '-infinity')
     ORDER BY 1
  LOOP
    d := date_bin('1 day', h, epoch);
    WITH fresh AS (
      -- Both sides from one pass over the hour's flows.
      SELECT s.side, f.zone, s.host, count(*) AS flows,
             sum(f.orig_packets + f.reply_packets) AS packets, sum(f.orig_bytes + f.reply_bytes) AS bytes
        FROM flows f
        CROSS JOIN LATERAL (VALUES ('src', f.src_addr), ('dst', f.dst_addr)) AS s(side, host)
       WHERE f.first_seen >= h AND f.first_seen < h + interval '1 hour'
       GROUP BY s.side, f.zone, s.host
    ), stored AS (
      SELECT side, zone, host, flows, packets, bytes FROM host_traffic_1h WHERE side IN ('src', 'dst') AND bucket = h
    ), diff AS (
      SELECT coalesce(n.side, o.side) AS side, coalesce(n.zone, o.zone) AS zone, coalesce(n.host, o.host) AS host,
             n.flows AS new_flows, n.packets AS new_packets, n.bytes AS new_bytes,
             coalesce(n.flows, 0) - coalesce(o.flows, 0) AS d_flows,
             coalesce(n.packets, 0) - coalesce(o.packets, 0) AS d_packets,
             coalesce(n.bytes, 0) - coalesce(o.bytes, 0) AS d_bytes
        FROM fresh n
        FULL JOIN stored o ON o.side = n.side AND o.zone = n.zone AND o.host = n.host
       WHERE n.flows IS DISTINCT FROM o.flows OR n.packets IS DISTINCT FROM o.packets OR n.bytes IS DISTINCT FROM o.bytes
    ), removed AS (
      DELETE FROM host_traffic_1h t USING diff
       WHERE diff.new_flows IS NULL AND t.side = diff.side AND t.bucket = h AND t.zone = diff.zone AND t.host = diff.host
      RETURNING 1
    ), hour_rows AS (
      INSERT INTO host_traffic_1h AS t (bucket, side, zone, host, flows, packets, bytes)
      SELECT h, side, zone, host, new_flows, new_packets, new_bytes FROM diff WHERE new_flows IS NOT NULL
      ON CONFLICT (side, bucket, zone, host) DO UPDATE SET flows = EXCLUDED.flows, packets = EXCLUDED.packets, bytes = EXCLUDED.bytes
      RETURNING 1
    ), day_rows AS (
      INSERT INTO host_traffic_1d AS t (bucket, side, zone, host, flows, packets, bytes)
      SELECT d, side, zone, host, d_flows, d_packets, d_bytes FROM diff
      ON CONFLICT (side, bucket, zone, host) DO UPDATE
        SET flows = t.flows + EXCLUDED.flows, packets = t.packets + EXCLUDED.packets, bytes = t.bytes + EXCLUDED.bytes
      RETURNING 1
    )
    SELECT count(*) INTO gone FROM removed;
    -- A host gone from an hour (its flows were deleted by hand: the writers never delete) may leave an empty day row.
    IF gone > 0 THEN
      DELETE FROM host_traffic_1d WHERE side IN ('src', 'dst') AND bucket = d AND flows = 0;
    END IF;
    n := n + 1;
  END LOOP;
  IF p_resum_days THEN
    FOR d IN
      SELECT DISTINCT date_bin('1 day', x, epoch) FROM unnest(p_hours) AS x
       WHERE x IS NOT NULL AND date_bin('1 hour', x, epoch) >= coalesce(flows_from, '-infinity')
       ORDER BY 1
    LOOP
      DELETE FROM host_traffic_1d WHERE side IN ('src', 'dst') AND bucket = d;
      INSERT INTO host_traffic_1d (bucket, side, zone, host, flows, packets, bytes)
      SELECT d, side, zone, host, sum(flows), sum(packets), sum(bytes)
        FROM host_traffic_1h
       WHERE side IN ('src', 'dst') AND bucket >= d AND bucket < d + interval '24 hours'
       GROUP BY side, zone, host;
    END LOOP;
  END IF;
  RETURN n;
END;
$$;

-- Recomputes every hour that overlaps [p_from, p_to), at most 400 days, and
-- sums their days again from the hours.
CREATE FUNCTION rollup_hosts(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
    RAISE EXCEPTION 'rollup_hosts: bad range % .. %', p_from, p_to USING ERRCODE = '22023';
  END IF;
  IF p_to - p_from > interval '400 days' THEN
    RAISE EXCEPTION 'rollup_hosts: at most 400 days at once (asked % .. %)', p_from, p_to USING ERRCODE = '22023';
  END IF;
  RETURN rollup_host_hours(ARRAY(
    SELECT h FROM generate_series(date_bin('1 hour', p_from, timestamptz '1970-01-01 00:00:00+00'), p_to, interval '1 hour') AS h
     WHERE h < p_to), true);
END;
$$;

-- Recomputes the hours marked dirty, and takes their marks. A mark made by a
-- writer still in progress is taken only after that writer commits, or
-- stays for the next run. The marks go in the same transaction as the
-- recomputed rows: a reader sees either the mark or the new rows.
CREATE FUNCTION rollup_hosts_dirty()
RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  hours timestamptz[];
BEGIN
  WITH taken AS (DELETE FROM flow_dirty_hours RETURNING bucket)
  SELECT coalesce(array_agg(bucket), '{}') INTO hours FROM taken;
  RETURN rollup_host_hours(hours);
END;
$$;
