import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * A classic pcap file written as it is generated (a benchmark capture of a
 * million packets never sits in memory whole): records are collected into
 * 4 MiB writes, and a write waits for the stream to drain.
 */
export class PcapStream {
  /** Bytes written, header included. */
  bytes = 24;
  private readonly out: WriteStream;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(file: string, options: { nanosecond: boolean; linkType: number }) {
    this.out = createWriteStream(file, { highWaterMark: 4 << 20 });
    const header = Buffer.alloc(24);
    header.writeUInt32LE(options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(options.linkType, 20);
    this.out.write(header);
  }

  /** One record; `fraction` is µs or ns within the second, as the file says. */
  async add(tsSec: number, fraction: number, frame: Uint8Array): Promise<void> {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(tsSec, 0);
    rec.writeUInt32LE(fraction, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    this.pending.push(rec, Buffer.from(frame.buffer, frame.byteOffset, frame.length));
    this.pendingBytes += 16 + frame.length;
    if (this.pendingBytes > 4 << 20) {
      const flushed = this.out.write(Buffer.concat(this.pending));
      this.bytes += this.pendingBytes;
      this.pending = [];
      this.pendingBytes = 0;
      if (!flushed) await new Promise<void>((r) => this.out.once('drain', () => r()));
    }
  }

  async close(): Promise<void> {
    this.out.write(Buffer.concat(this.pending));
    this.bytes += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
