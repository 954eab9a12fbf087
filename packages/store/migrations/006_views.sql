-- Views for dashboards and ad-hoc SQL. Times are UTC bucket starts; byte and
-- packet sums are bigint. See docs/store.md.

-- Each l7 protocol's part of the cluster's traffic per hour (from the hourly
-- rollup, all edges, interfaces and both directions together).
CREATE VIEW protocol_share_hourly AS
SELECT bucket                  AS hour,
       l7_protocol,
       sum(flows)::bigint      AS flows,
       sum(packets)::bigint    AS packets,
       sum(bytes)::bigint      AS bytes,
       round(sum(bytes) / nullif(sum(sum(bytes)) OVER (PARTITION BY bucket), 0), 6) AS byte_share
  FROM accounting_1h
 GROUP BY bucket, l7_protocol;

-- Hosts by the traffic of the flows they originated, per UTC day of the
-- flows' start; rank 1 is the largest. Filter on day (and rank).
CREATE VIEW top_src_daily AS
SELECT day, zone, host, flows, packets, bytes,
       rank() OVER (PARTITION BY day ORDER BY bytes DESC) AS rank
  FROM (SELECT date_bin('1 day', first_seen, timestamptz '1970-01-01 00:00:00+00') AS day,
               zone,
               src_addr                                   AS host,
               count(*)                                   AS flows,
               sum(orig_packets + reply_packets)::bigint  AS packets,
               sum(orig_bytes + reply_bytes)::bigint      AS bytes
          FROM flows
         GROUP BY 1, 2, 3) AS per_host;

-- The same for the hosts the flows went to.
CREATE VIEW top_dst_daily AS
SELECT day, zone, host, flows, packets, bytes,
       rank() OVER (PARTITION BY day ORDER BY bytes DESC) AS rank
  FROM (SELECT date_bin('1 day', first_seen, timestamptz '1970-01-01 00:00:00+00') AS day,
               zone,
               dst_addr                                   AS host,
               count(*)                                   AS flows,
               sum(orig_packets + reply_packets)::bigint  AS packets,
               sum(orig_bytes + reply_bytes)::bigint      AS bytes
          FROM flows
         GROUP BY 1, 2, 3) AS per_host;

-- Flows not ended yet, conntrack -L style, newest activity first.
CREATE VIEW live_flows AS
SELECT zone,
       CASE protocol WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' ELSE protocol::text END AS transport,
       src_addr, src_port, dst_addr, dst_port,
       l7_protocol, decided_by, mark, rule_set_version, edges,
       first_seen, last_seen, now() - last_seen AS idle,
       orig_packets, orig_bytes, reply_packets, reply_bytes
  FROM flows
 WHERE state = 'live'
 ORDER BY last_seen DESC;

-- Each edge's uplink interfaces per hour, in and out side by side.
CREATE VIEW edge_interface_traffic_hourly AS
SELECT bucket AS hour,
       edge,
       iface,
       coalesce(sum(bytes)   FILTER (WHERE direction = 'in'), 0)::bigint  AS bytes_in,
       coalesce(sum(bytes)   FILTER (WHERE direction = 'out'), 0)::bigint AS bytes_out,
       coalesce(sum(packets) FILTER (WHERE direction = 'in'), 0)::bigint  AS packets_in,
       coalesce(sum(packets) FILTER (WHERE direction = 'out'), 0)::bigint AS packets_out,
       sum(flows)::bigint                                                  AS flows
  FROM accounting_1h
 GROUP BY bucket, edge, iface;
