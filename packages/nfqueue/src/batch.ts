/**
 * Packets drained from the queue socket in one wake-up, column-wise: entry i
 * of every array describes packet i. All metadata columns share one
 * ArrayBuffer; payload bytes of all packets are concatenated in `data`.
 * With `reuseBatch` (NfQueueOptions) the arrays are views of buffers the
 * next batch overwrites: valid until onBatch returns.
 */
export interface PacketBatch {
  readonly count: number;
  /** Packet ids, to pass back in verdicts (unique per queue). */
  readonly ids: Uint32Array;
  /** Queue number each packet came from. */
  readonly queues: Uint16Array;
  /** Packet mark (skb->mark) when queued. */
  readonly marks: Uint32Array;
  /** Link-layer protocol (ethertype): 0x0800 IPv4, 0x86dd IPv6. */
  readonly hwProtocols: Uint16Array;
  /** Netfilter hook (see Hook). */
  readonly hooks: Uint8Array;
  /** Input / output interface index, 0 when none. */
  readonly inIfindex: Uint32Array;
  readonly outIfindex: Uint32Array;
  /** Kernel receive timestamp in µs since the epoch; 0 when the kernel gave none. */
  readonly timestampsUs: Float64Array;
  /** Where each packet's bytes (starting at the IP header) start in `data`. */
  readonly offsets: Uint32Array;
  /** Bytes copied (at most the copy range). */
  readonly lengths: Uint32Array;
  /** Length of the packet on the wire; > lengths[i] when the copy range cut it. */
  readonly origLengths: Uint32Array;
  /** NFQA_SKB_INFO bits (see SkbInfo). */
  readonly skbInfo: Uint8Array;
  /** All packet bytes, concatenated. */
  readonly data: Buffer;
}

/** One packet of a batch as an object (convenient, not the fast path). */
export interface PacketView {
  id: number;
  queue: number;
  mark: number;
  hwProtocol: number;
  hook: number;
  inIfindex: number;
  outIfindex: number;
  timestampUs: number;
  origLength: number;
  skbInfo: number;
  /** The copied bytes: a view into batch.data, not a copy. */
  payload: Buffer;
}

export function packetAt(batch: PacketBatch, i: number): PacketView {
  if (!Number.isInteger(i) || i < 0 || i >= batch.count) {
    throw new RangeError(`packetAt: index ${i} outside 0..${batch.count - 1}`);
  }
  const off = batch.offsets[i]!;
  return {
    id: batch.ids[i]!,
    queue: batch.queues[i]!,
    mark: batch.marks[i]!,
    hwProtocol: batch.hwProtocols[i]!,
    hook: batch.hooks[i]!,
    inIfindex: batch.inIfindex[i]!,
    outIfindex: batch.outIfindex[i]!,
    timestampUs: batch.timestampsUs[i]!,
    origLength: batch.origLengths[i]!,
    skbInfo: batch.skbInfo[i]!,
    payload: batch.data.subarray(off, off + batch.lengths[i]!),
  };
}

/**
 * The batch as views of the addon's kept buffers (native/rx.cc,
 * FillBatchBuffers): the metadata columns at fixed places for `capacity`
 * packets, widest first, and the packet bytes. Views are made here, not in
 * the addon, where the batch object cost a property set by name per field
 * (4.5% of the stateless edge's CPU under flood). `copy`: the batch gets
 * its own copies (it may be kept).
 */
export function batchOf(count: number, meta: ArrayBuffer, capacity: number, data: ArrayBuffer, dataBytes: number, copy: boolean): PacketBatch {
  const c = capacity;
  const u32 = (column: number) => new Uint32Array(meta, 8 * c + 4 * c * column, count);
  const batch: PacketBatch = {
    count,
    timestampsUs: new Float64Array(meta, 0, count),
    ids: u32(0),
    marks: u32(1),
    inIfindex: u32(2),
    outIfindex: u32(3),
    offsets: u32(4),
    lengths: u32(5),
    origLengths: u32(6),
    queues: new Uint16Array(meta, 36 * c, count),
    hwProtocols: new Uint16Array(meta, 38 * c, count),
    hooks: new Uint8Array(meta, 40 * c, count),
    skbInfo: new Uint8Array(meta, 41 * c, count),
    data: Buffer.from(data, 0, dataBytes),
  };
  if (!copy) return batch;
  return {
    count,
    timestampsUs: batch.timestampsUs.slice(),
    ids: batch.ids.slice(),
    marks: batch.marks.slice(),
    inIfindex: batch.inIfindex.slice(),
    outIfindex: batch.outIfindex.slice(),
    offsets: batch.offsets.slice(),
    lengths: batch.lengths.slice(),
    origLengths: batch.origLengths.slice(),
    queues: batch.queues.slice(),
    hwProtocols: batch.hwProtocols.slice(),
    hooks: batch.hooks.slice(),
    skbInfo: batch.skbInfo.slice(),
    data: Buffer.copyBytesFrom(batch.data),
  };
}
