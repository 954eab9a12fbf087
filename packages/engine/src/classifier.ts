import {
  DEFAULT_MAX_DATA_LEN,
  DEFAULT_MAX_PACKETS,
  ExpectationTable,
  FlowTable,
  formatIpAddress,
  headCapacity,
  IPPROTO_TCP,
  MAX_DATA_LEN_LIMIT,
  parseFtpDataEndpoint,
  SharedPacket,
  type DecodedPacket,
  type FlowEndReason,
  type FlowEntry,
  type FlowTimeouts,
} from '@l7mesh/flow';
import { EngineError } from './errors.js';
import { describeFlowKey, flowRecordOf, type Decision, type FlowRecord } from './flowRecord.js';
import type { HeadScanner } from './headScanner.js';
import type { PatternSet } from './patternSet.js';

export interface ClassifierOptions {
  /** l7-filter's packet budget per connection, both directions (default 10). */
  maxPackets?: number;
  /** l7-filter's maxdatalen (default 2048, at most 65536); maxdatalen-1 bytes of head are kept. */
  maxDataLen?: number;
  timeouts?: Partial<FlowTimeouts>;
  maxFlows?: number;
  /** Server ports of FTP control connections, where conntrack's helper would look (default [21]). */
  ftpPorts?: number[];
  /** Receives every flow as it leaves the table (the record, and the entry it was made from). */
  onFlow?: (record: FlowRecord, flow: FlowEntry) => void;
  /**
   * Receives every flow as it leaves the table, without a record (after
   * onFlow when both are given): for a caller that needs no record, so
   * none is made.
   */
  onFlowEnd?: (flow: FlowEntry, reason: FlowEndReason) => void;
  /**
   * At most this many idle flows are ended per packet (default: all that
   * are due). A burst of flows idling out together is then ended over the
   * following packets instead of stalling one; every flow still ends, as
   * `idle`, but its record may come later than other flows' records.
   */
  expiryBudget?: number;
  /** Told of every verdict as it is reached (a protocol, or unknown), e.g. to mark the connection. */
  onDecision?: (flow: FlowEntry) => void;
}

/** Queued events that are limit checks rather than pattern tests. */
const PACKET_LIMIT_EVENT = -1;
const BYTE_LIMIT_EVENT = -2;

/**
 * The l7-filter pipeline over decoded packets: flow table -> head -> scan ->
 * verdict. Tests are queued in the scanner and their results applied in
 * packet order (events below), so a verdict is what a packet-by-packet run
 * would give.
 */
export class FlowClassifier {
  private readonly table: FlowTable;
  private readonly maxPackets: number;
  private readonly capacity: number;
  /** 1 for each FTP server port: a byte per port, looked up for every TCP payload packet (a Set lookup cost more). */
  private readonly ftpPorts = new Uint8Array(65536);
  private readonly expectations = new ExpectationTable();
  private readonly patternNames: string[];
  private readonly patternFiles: string[];
  private readonly inheritedFrom = new WeakMap<FlowEntry, string>();
  /** Expected children (FTP data) -> their parent's key, until inherited or orphaned. Rare: not a FlowEntry field. */
  private readonly parents = new Map<FlowEntry, string>();
  private readonly expiryBudget: number;
  // Queued events in packet order: a pattern test (scanner result `testIndex`) or a limit check.
  // The lists keep their room between batches (`eventCount` is reset, not their
  // length, which would free it): queueing allocates nothing once they have grown.
  private readonly eventFlows: (FlowEntry | null)[] = [];
  private readonly eventPackets: number[] = [];
  private readonly eventKinds: number[] = [];
  private eventCount = 0;
  packets = 0;

  constructor(
    set: PatternSet,
    private readonly scanner: HeadScanner,
    private readonly options: ClassifierOptions,
  ) {
    this.maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
    const maxDataLen = options.maxDataLen ?? DEFAULT_MAX_DATA_LEN;
    if (!Number.isInteger(this.maxPackets) || this.maxPackets < 1) {
      throw new EngineError('ENGINE_BAD_OPTION', `maxPackets must be a positive integer, got ${options.maxPackets}`);
    }
    if (!Number.isInteger(maxDataLen) || maxDataLen < 2 || maxDataLen > MAX_DATA_LEN_LIMIT) {
      throw new EngineError('ENGINE_BAD_OPTION', `maxDataLen must be an integer from 2 to ${MAX_DATA_LEN_LIMIT}, got ${options.maxDataLen}`);
    }
    this.capacity = headCapacity(maxDataLen);
    for (const port of options.ftpPorts ?? [21]) if (Number.isInteger(port) && port >= 0 && port < 65536) this.ftpPorts[port] = 1;
    this.expiryBudget = options.expiryBudget ?? Infinity;
    if (!(this.expiryBudget >= 1)) throw new EngineError('ENGINE_BAD_OPTION', `expiryBudget must be at least 1, got ${options.expiryBudget}`);
    this.patternNames = set.patterns.map((p) => p.name);
    this.patternFiles = set.patterns.map((p) => p.file.slice(p.file.lastIndexOf('/') + 1));
    this.table = new FlowTable({
      timeouts: options.timeouts,
      maxFlows: options.maxFlows,
      onEnd: (flow, reason) => this.report(flow, reason),
    });
  }

  get activeFlows(): number {
    return this.table.size;
  }

  /** Calls `fn` for every flow in the table, in no particular order (it must not process packets). */
  forEachFlow(fn: (flow: FlowEntry) => void): void {
    this.table.forEach(fn);
  }

  /** The flows in the table, in creation order (a snapshot). */
  liveFlows(): FlowEntry[] {
    return this.table.entries();
  }

  /**
   * Tracks and classifies one packet; returns its flow. A verdict the packet
   * brings may wait in the queue until {@link flush} (or the next batch).
   */
  process(p: DecodedPacket): FlowEntry {
    this.packets++;
    this.table.expireAsOf(p.tsSec, this.expiryBudget);
    const { flow, isOrig, created } = this.table.track(p);
    if (created && p.protocol === IPPROTO_TCP && this.expectations.size > 0 && this.expectations.expecting(p.dstPort)) {
      const parentKey = this.expectations.claim(formatIpAddress(p.dstAddr), p.dstPort, p.tsSec);
      if (parentKey !== undefined) this.parents.set(flow, parentKey);
    }
    if (p.payloadLength > 0 && p.protocol === IPPROTO_TCP) this.watchFtpControl(flow, p, isOrig);
    if (flow.l7 === 'unset') this.classify(flow, p);
    return flow;
  }

  private classify(flow: FlowEntry, p: DecodedPacket): void {
    const packetNo = flow.packets;
    if (this.parents.size > 0 && this.parents.has(flow)) {
      this.inherit(flow, packetNo);
      return;
    }
    if (packetNo > this.maxPackets) {
      // The packet budget passes on the first packet beyond it: the last one was still tested.
      if (packetNo === this.maxPackets + 1) this.queueEvent(flow, packetNo, PACKET_LIMIT_EVENT);
      return;
    }
    const room = this.capacity - flow.headLength;
    if (room === 0 || p.payloadLength === 0) return;
    if (this.scanner.mustFlush) this.flush();
    if (flow.scanHandle < 0) flow.scanHandle = this.scanner.open();
    // The decoder's packet: its payload read where it lies, with no view made per packet.
    const written =
      p instanceof SharedPacket
        ? this.scanner.append(flow.scanHandle, p.payloadBytes, room, p.payloadStart, p.payloadStart + p.payloadLength)
        : this.scanner.append(flow.scanHandle, p.payload, room);
    if (written === 0) return; // only NULs: a packet that adds nothing tests nothing
    flow.headLength += written;
    this.queueEvent(flow, packetNo, this.scanner.queued - 1);
    // A full head can never match anything new: unknown unless this test matched.
    if (flow.headLength === this.capacity) this.queueEvent(flow, packetNo, BYTE_LIMIT_EVENT);
  }

  /** Ends one flow now (see FlowTable.endFlow); it is reported as any ending flow. */
  endFlow(flow: FlowEntry, reason: FlowEndReason): void {
    this.table.endFlow(flow, reason);
  }

  /** Applies every queued test, then ends all flows (end of input). */
  finish(): void {
    this.flush();
    this.table.drain();
  }

  private queueEvent(flow: FlowEntry, packetNo: number, kind: number): void {
    const i = this.eventCount++;
    this.eventFlows[i] = flow;
    this.eventPackets[i] = packetNo;
    this.eventKinds[i] = kind;
    flow.queuedTests++;
  }

  /** Runs queued tests and applies all queued events in packet order. */
  flush(): void {
    const results = this.scanner.flush();
    const n = this.eventCount;
    for (let i = 0; i < n; i++) {
      const flow = this.eventFlows[i]!;
      this.eventFlows[i] = null; // no ended flow kept alive by a stale event
      const kind = this.eventKinds[i]!;
      flow.queuedTests--;
      if (flow.l7 === 'unset') {
        if (kind >= 0) {
          const index = results[kind]!;
          if (index >= 0) this.decide(flow, this.patternNames[index]!, this.patternFiles[index]!, this.eventPackets[i]!);
        } else {
          this.decide(flow, 'unknown', kind === PACKET_LIMIT_EVENT ? 'packet-limit' : 'byte-limit', this.eventPackets[i]!);
        }
      }
      if (flow.queuedTests === 0 && flow.l7 !== 'unset') this.releaseScan(flow);
    }
    this.eventCount = 0;
  }

  private decide(flow: FlowEntry, l7: string, by: string, packetNo: number): void {
    flow.setVerdict(l7, by, packetNo);
    this.options.onDecision?.(flow);
    if (this.parents.size > 0) this.decideWaitingChildren(flow);
  }

  /**
   * Children that waited for this flow's verdict take it now, without
   * waiting for a packet of theirs: a data connection may be over already
   * (its verdict then goes on the conntrack entry at the edge).
   */
  private decideWaitingChildren(parent: FlowEntry): void {
    // Rare and few: a control connection is usually decided by its banner, before any PASV/PORT.
    const key = parent.key;
    for (const [child, parentKey] of this.parents) {
      if (parentKey === key && child.l7 === 'unset') this.inheritFrom(child, parent, child.packets);
    }
  }

  private releaseScan(flow: FlowEntry): void {
    if (flow.scanHandle >= 0) {
      this.scanner.release(flow.scanHandle);
      flow.scanHandle = -1;
    }
  }

  /**
   * conntrack's FTP helper: note data connections announced on a control
   * connection. The server is the end on an FTP port, whichever sent first
   * (a flow picked up mid-stream, or by a classifier worker that took a
   * moved partition over, may start with the server's reply); on another
   * port, of a flow decided `ftp`, the responder.
   */
  private watchFtpControl(flow: FlowEntry, p: DecodedPacket, isOrig: boolean): void {
    let fromServer: boolean;
    if (this.ftpPorts[p.srcPort] === 1) fromServer = true;
    else if (this.ftpPorts[p.dstPort] === 1) fromServer = false;
    else if (flow.l7 === 'ftp') fromServer = !isOrig;
    else return;
    // The decoder's packet: read where it lies, with no view made per packet.
    const endpoint =
      p instanceof SharedPacket
        ? parseFtpDataEndpoint(p.payloadBytes, !fromServer, p.payloadStart, p.payloadStart + p.payloadLength)
        : parseFtpDataEndpoint(p.payload, !fromServer);
    if (!endpoint) return;
    const serverAddr = fromServer ? p.srcAddr : p.dstAddr;
    this.expectations.expect(endpoint.addr ?? formatIpAddress(serverAddr), endpoint.port, flow.key, p.tsSec);
  }

  /** A child connection takes its parent's verdict once the parent has one. */
  private inherit(flow: FlowEntry, packetNo: number): void {
    const parent = this.table.get(this.parents.get(flow)!);
    if (!parent) {
      this.parents.delete(flow); // the parent is gone: classify the child on its own
      return;
    }
    // The parent's queued test may decide it, and with it this child (decideWaitingChildren).
    if (parent.queuedTests > 0) this.flush();
    if (parent.l7 === 'unset' || flow.l7 !== 'unset') return;
    this.inheritFrom(flow, parent, packetNo);
  }

  private inheritFrom(child: FlowEntry, parent: FlowEntry, packetNo: number): void {
    this.parents.delete(child);
    this.inheritedFrom.set(child, describeFlowKey(parent.key, parent.origIsLow));
    this.decide(child, parent.l7, 'inherited', packetNo);
  }

  private report(flow: FlowEntry, reason: FlowEndReason): void {
    if (flow.queuedTests > 0) this.flush();
    if (this.parents.size > 0 && this.parents.has(flow)) {
      if (flow.l7 === 'unset') this.inherit(flow, flow.packets);
      this.parents.delete(flow);
    }
    this.releaseScan(flow);
    const { onFlow, onFlowEnd } = this.options;
    if (onFlow) {
      let decision: Decision | undefined;
      const by = flow.decidedBy;
      if (by !== undefined) {
        decision = { by, packet: flow.decidedAtPacket };
        if (by === 'inherited') {
          const parent = this.inheritedFrom.get(flow);
          if (parent) decision.parent = parent;
        }
      }
      onFlow(flowRecordOf(flow, decision, reason), flow);
    }
    onFlowEnd?.(flow, reason);
  }
}

