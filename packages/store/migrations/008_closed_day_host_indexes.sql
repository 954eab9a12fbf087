-- Host lookups (`flows --src/--dst`) no longer cost every record an insert
-- into two B-trees of random addresses: that was about a third of what
-- PostgreSQL spent writing a flow record, and the ingestion rate is bounded
-- by it (docs/store.md, "Benchmark"). The host indexes are now built on a
-- day's partition once the day is over (indexClosedPartitions, which
-- control runs with its rollups, CREATE INDEX CONCURRENTLY: writes go on),
-- and named <partition>_src_addr / _dst_addr. A lookup in the current day
-- reads its partition by the window on first_seen (flows_first_seen).
--
-- Dropping the partitioned indexes drops every partition's: the closed days
-- get theirs again at control's next maintenance run.
DROP INDEX flows_src_addr;
DROP INDEX flows_dst_addr;
