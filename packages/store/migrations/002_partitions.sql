-- Daily partitions for the store's time-partitioned tables (native
-- declarative RANGE partitioning), created ahead by ensure_partitions and
-- dropped whole by drop_partitions_before: retention drops a table per day
-- instead of deleting billions of rows.
--
-- Days are UTC days. A partition of PARENT for the day D is named
-- PARENT_pYYYYMMDD and holds [D 00:00 UTC, D+1 00:00 UTC). Only partitions
-- named so are ever dropped; one attached by hand is left alone.

CREATE TABLE partitioned_tables (
  parent  text        PRIMARY KEY,
  -- Everything before this instant was dropped by retention: writers skip
  -- records older than it, and partitions before it are not created again.
  horizon timestamptz NOT NULL DEFAULT '-infinity'
);

-- Creates the missing daily partitions of every registered parent (or of
-- p_parent) for the UTC days that overlap [p_from, p_to). Returns the names
-- created. Serialised by a transaction advisory lock, because two sessions
-- creating the same partition at once would make one of them fail.
CREATE FUNCTION ensure_partitions(p_from timestamptz, p_to timestamptz, p_parent text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  t record;
  day_start timestamptz;
  part text;
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
    RAISE EXCEPTION 'ensure_partitions: bad range % .. %', p_from, p_to USING ERRCODE = '22023';
  END IF;
  -- A bound against a wild timestamp creating thousands of tables.
  IF p_to - p_from > interval '400 days' THEN
    RAISE EXCEPTION 'ensure_partitions: at most 400 days at once (asked % .. %)', p_from, p_to USING ERRCODE = '22023';
  END IF;
  IF p_to = p_from THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('l7mesh.store.partitions'));
  FOR t IN SELECT parent, horizon FROM partitioned_tables WHERE p_parent IS NULL OR parent = p_parent ORDER BY parent LOOP
    day_start := greatest(date_bin('1 day', p_from, timestamptz '1970-01-01 00:00:00+00'), t.horizon);
    WHILE day_start < p_to LOOP
      part := t.parent || '_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD');
      IF to_regclass(quote_ident(part)) IS NULL THEN
        -- Bounds spelled in UTC, whatever the session's TimeZone and DateStyle.
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
          part, t.parent,
          to_char(day_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' 00:00:00+00',
          to_char((day_start + interval '24 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ' 00:00:00+00');
        RETURN NEXT part;
      END IF;
      -- 24 hours, not '1 day': a day added to a timestamptz follows the session's DST.
      day_start := day_start + interval '24 hours';
    END LOOP;
  END LOOP;
END;
$$;

-- Drops the daily partitions of every registered parent (or of p_parent)
-- that end at or before p_before, and moves the parent's horizon to the
-- start of p_before's UTC day. Returns the names dropped.
CREATE FUNCTION drop_partitions_before(p_before timestamptz, p_parent text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  t record;
  part text;
  day_start timestamptz;
  cutoff timestamptz := date_bin('1 day', p_before, timestamptz '1970-01-01 00:00:00+00');
BEGIN
  IF p_before IS NULL THEN
    RAISE EXCEPTION 'drop_partitions_before: no time given' USING ERRCODE = '22023';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('l7mesh.store.partitions'));
  FOR t IN SELECT parent FROM partitioned_tables WHERE p_parent IS NULL OR parent = p_parent ORDER BY parent LOOP
    -- The horizon moves first: its row lock waits for writers that read the
    -- old horizon (FOR SHARE) to commit, and writers after this one read the
    -- new one, so no writer aims at a partition being dropped.
    UPDATE partitioned_tables SET horizon = greatest(horizon, cutoff) WHERE parent = t.parent;
    FOR part IN
      SELECT c.relname::text
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = to_regclass(quote_ident(t.parent))
       ORDER BY c.relname
    LOOP
      IF part ~ ('^' || t.parent || '_p[0-9]{8}$') THEN
        day_start := to_date(right(part, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
        IF day_start + interval '24 hours' <= p_before THEN
          EXECUTE format('DROP TABLE %I', part);
          RETURN NEXT part;
        END IF;
      END IF;
    END LOOP;
  END LOOP;
END;
$$;
