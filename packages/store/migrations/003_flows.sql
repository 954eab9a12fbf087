-- The conntrack-style flow table of the whole cluster: one row per
-- connection, written when the flow is decided and again when it ends with
-- its final counters. Partitioned by day of first_seen.

CREATE TABLE flows (
  -- Flow identity: the zone (an edge's address space: overlapping private or
  -- CGNAT ranges behind different routers stay apart), the 5-tuple in the
  -- originator's direction, and the time of the first packet (a 5-tuple used
  -- again later is another connection).
  zone             bigint      NOT NULL CHECK (zone BETWEEN 0 AND 4294967295),
  family           smallint    NOT NULL GENERATED ALWAYS AS (family(src_addr)) STORED,
  protocol         smallint    NOT NULL CHECK (protocol BETWEEN 0 AND 255),
  src_addr         inet        NOT NULL,
  src_port         integer     NOT NULL CHECK (src_port BETWEEN 0 AND 65535),
  dst_addr         inet        NOT NULL,
  dst_port         integer     NOT NULL CHECK (dst_port BETWEEN 0 AND 65535),
  first_seen       timestamptz NOT NULL,
  last_seen        timestamptz NOT NULL,
  state            text        NOT NULL CHECK (state IN ('live', 'ended')),
  -- Counters as the kernel counts them (IP datagram lengths); orig is the
  -- originator's direction, reply the responder's. Replaced by each newer
  -- record of the flow, never added up.
  orig_packets     bigint      NOT NULL CHECK (orig_packets >= 0),
  orig_bytes       bigint      NOT NULL CHECK (orig_bytes >= 0),
  reply_packets    bigint      NOT NULL CHECK (reply_packets >= 0),
  reply_bytes      bigint      NOT NULL CHECK (reply_bytes >= 0),
  l7_protocol      text        NOT NULL CHECK (length(l7_protocol) BETWEEN 1 AND 64),
  decided_by       text        NOT NULL,
  mark             bigint      NOT NULL CHECK (mark BETWEEN 0 AND 4294967295),
  rule_set_version bigint      NOT NULL CHECK (rule_set_version BETWEEN 0 AND 4294967295),
  edges            text[]      NOT NULL,
  event_id         text        NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (family(dst_addr) = family(src_addr)),
  CHECK (masklen(src_addr) = CASE family(src_addr) WHEN 4 THEN 32 ELSE 128 END),
  CHECK (masklen(dst_addr) = CASE family(dst_addr) WHEN 4 THEN 32 ELSE 128 END),
  CHECK (last_seen >= first_seen),
  PRIMARY KEY (zone, protocol, src_addr, src_port, dst_addr, dst_port, first_seen)
) PARTITION BY RANGE (first_seen);

-- Newest activity first (listFlows), live flows (conntrack -L), and hosts.
CREATE INDEX flows_last_seen ON flows (last_seen DESC);
CREATE INDEX flows_live ON flows (last_seen DESC) WHERE state = 'live';
CREATE INDEX flows_src_addr ON flows (src_addr);
CREATE INDEX flows_dst_addr ON flows (dst_addr);

INSERT INTO partitioned_tables (parent) VALUES ('flows');
