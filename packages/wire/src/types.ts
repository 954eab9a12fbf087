/**
 * The messages of the cluster, as the codecs hand them out. Flow keys are
 * the flow package's canonical key strings (one char per byte: protocol,
 * lower endpoint's address and port, higher endpoint's address and port;
 * 13 chars for IPv4, 37 for IPv6) plus a zone, so that overlapping private
 * or CGNAT address spaces behind different routers stay apart.
 */

/** Which way a packet went, relative to the canonical key. */
export const Direction = {
  /** From the key's lower endpoint to the higher one. */
  LowToHigh: 0,
  HighToLow: 1,
} as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

/** Segment flags (a bit set). */
export const SegmentFlag = {
  /** Sent again: the edge had no verdict for the flow in time. */
  Resent: 1,
  /** The edge had seen packets of both directions of the flow by this one (a symmetric router). */
  EdgeSawBoth: 2,
  /**
   * Sent past the flow's budget or verdict, for the FTP helper only (an FTP
   * control connection's PORT or PASV reply): the edge sends no empty
   * packets then, so counters skip.
   */
  Watched: 4,
  /**
   * The edge's first packet of the flow was not its start (a TCP packet
   * without SYN): the edge picked the flow up mid-stream (a route moved, a
   * router failed over). A worker that does not know the flow looks its
   * verdict up in the cache before it classifies what follows.
   */
  Pickup: 8,
} as const;

/**
 * One packet of a flow's head as an edge saw it. Every packet the edge
 * tracked while the flow was undecided is sent, empty ones too (l7-filter's
 * packet budget counts them all).
 */
export interface HeadSegment {
  zone: number;
  /** Canonical flow key (see above). */
  key: string;
  direction: Direction;
  /** The edge's instance number of the flow (a reused 5-tuple gets a new one). */
  generation: number;
  /** The edge's packet number within the flow, from 1 (both directions, empty packets too). */
  counter: number;
  /** SegmentFlag bits. */
  flags: number;
  /** TCP flags byte, sequence and acknowledgement numbers (0 for UDP). */
  tcpFlags: number;
  seq: number;
  ack: number;
  /** The edge's timestamp of the packet. */
  tsSec: number;
  tsNsec: number;
  /** IP datagram length, as conntrack counts bytes. */
  ipLength: number;
  /** Transport payload (may be empty). A view into the message buffer after decoding. */
  payload: Uint8Array;
}

/** Segments of one edge for one partition, sent together. */
export interface HeadBatch {
  edge: string;
  partition: number;
  /** The edge's running number of batches, for loss accounting. */
  batchSeq: number;
  /**
   * The edge's watermark for this partition: every segment of the
   * partition with a timestamp at or before it is in this batch or an
   * earlier one (the newest packet the edge had handled when it flushed).
   */
  watermarkSec: number;
  watermarkNsec: number;
  segments: HeadSegment[];
}

export interface Verdict {
  zone: number;
  key: string;
  /** The receiving edge's generation of the flow (echoed from its segments). */
  generation: number;
  /** A protocol name, 'unknown', or 'unset' (the flow ended at the worker undecided). */
  l7: string;
  /** The pattern file, or 'packet-limit', 'byte-limit', 'inherited', 'cache'. */
  decidedBy: string;
  /** The merged flow's packet number that decided it (0 when none). */
  decidedAtPacket: number;
  /** Mark under the edge's mask; 0: the edge applies its own policy. */
  mark: number;
  ruleSetVersion: number;
  /** The membership epoch under which the deciding worker owned the partition. */
  epoch: number;
  /** False when the worker gave up rather than decided (e.g. the flow ended unset there). */
  final: boolean;
  /**
   * Answered from a decision made before this edge reported the flow (the
   * verdict cache, or a flow another edge's head decided): what a pickup
   * hopes for.
   */
  recalled: boolean;
  /**
   * The receiving edge reported the flow's first packet in the worker's
   * merged order (its opening packet): it counts the flow (accounting's
   * `flows`) and its records name the flow. An edge that saw only part of a
   * flow another edge opened (the reply path of an asymmetric route, a
   * pickup) accounts its packets and bytes but not the flow, and names its
   * records by `start`, so that the store keeps one row per connection. The
   * edge of a flow no other edge reported is always its opener.
   */
  opener: boolean;
  /**
   * The flow's first packet as the worker merged the flow (`origIsLow`
   * refers to this verdict's key: whoever maps the key, as an edge's NAT
   * translation does, maps it too); absent when the worker does not know it
   * (a verdict recalled from the store).
   */
  start?: FlowStart;
}

/**
 * A flow's first packet: when it was sent, and by which endpoint (the
 * originator). What a flow record names a flow by, with the zone and the key.
 */
export interface FlowStart {
  /** True when the originator is the key's lower endpoint. */
  origIsLow: boolean;
  /** The first packet's timestamp (the opening edge's clock). */
  firstSec: number;
  firstNsec: number;
}

export interface VerdictBatch {
  worker: string;
  verdicts: Verdict[];
}

export const MemberRole = { Worker: 1, Edge: 2 } as const;
export type MemberRole = (typeof MemberRole)[keyof typeof MemberRole];

/** A member's heartbeat, written to the membership bucket every second. */
export interface MemberHeartbeat {
  id: string;
  role: MemberRole;
  /** Wall clock of the heartbeat and of the member's start, ms since the epoch. */
  timeMs: number;
  startedMs: number;
  ruleSetVersion: number;
  /** Workers: partitions owned; edges: 0. */
  partitions: number;
  /** Flows waiting for a verdict (worker: in progress; edge: unanswered). */
  flowsInProgress: number;
  /** Flows decided (worker) or answered (edge) since start. */
  decided: number;
  /** Verdict latency percentiles in microseconds over the last interval (0: none). */
  latencyP50Us: number;
  latencyP99Us: number;
}

/**
 * An edge's progress: every segment it will ever send with a timestamp at
 * or before this one has been published. `done` (replay finished): nothing
 * more will come.
 */
export interface EdgeWatermark {
  edge: string;
  tsSec: number;
  tsNsec: number;
  done: boolean;
}

/** A decided flow, as an event for the events stream (control stores them). */
export interface VerdictEvent {
  zone: number;
  key: string;
  /** True when the originator is the key's lower endpoint. */
  origIsLow: boolean;
  l7: string;
  decidedBy: string;
  decidedAtPacket: number;
  ruleSetVersion: number;
  /** Timestamp of the flow's first packet. */
  firstSec: number;
  firstNsec: number;
  /** Edges that reported the flow. */
  edges: string[];
}

export interface EventBatch {
  worker: string;
  /** The worker's running number of event batches: with `worker`, the stream's dedupe id. */
  batchSeq: number;
  events: VerdictEvent[];
}
