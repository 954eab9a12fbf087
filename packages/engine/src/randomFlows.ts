import { IPPROTO_TCP, seededRandom, TcpFlag, type DecodedPacket } from '@l7mesh/flow';

/**
 * The two kinds of random traffic l7-protocols measured its patterns on:
 * uniformly random bytes (binary protocols, encrypted streams) and random
 * printable text (text protocols a pattern must not mistake for its own).
 */
export type RandomFlowKind = 'bytes' | 'text';
export const RANDOM_FLOW_KINDS: readonly RandomFlowKind[] = ['bytes', 'text'];

/** Printable ASCII (0x20-0x7e) plus CR and LF: what line-based protocols are made of. */
const TEXT_ALPHABET = Uint8Array.from([...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x20 + i), 0x0d, 0x0a]);
const MAX_PAYLOAD_PACKETS = 6;
const MAX_PAYLOAD_BYTES = 1400;
const BASE_TIME = 1_700_000_000;

function payload(kind: RandomFlowKind, rand: () => number): Uint8Array {
  const bytes = new Uint8Array(1 + Math.floor(rand() * MAX_PAYLOAD_BYTES));
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = kind === 'bytes' ? Math.floor(rand() * 256) : TEXT_ALPHABET[Math.floor(rand() * TEXT_ALPHABET.length)]!;
  }
  return bytes;
}

/**
 * `count` random TCP connections, one packet list each: the three-way
 * handshake, then 1-6 packets of 1-1400 random bytes, each in a random
 * direction. Every flow has its own client address, so no two share a
 * tuple, and the server port is never 21, so no FTP expectation is parsed.
 */
export function randomFlows(kind: RandomFlowKind, count: number, seed: number): DecodedPacket[][] {
  const rand = seededRandom(seed);
  const server = Uint8Array.of(198, 18, 0, 1);
  const flows: DecodedPacket[][] = [];
  for (let f = 0; f < count; f++) {
    const client = Uint8Array.of(10, (f >>> 16) & 0xff, (f >>> 8) & 0xff, f & 0xff);
    const clientPort = 32768 + Math.floor(rand() * 28000);
    const serverPort = 1024 + Math.floor(rand() * 64000);
    const tsSec = BASE_TIME + Math.floor(f / 100);
    const packet = (fromClient: boolean, flags: number, data: Uint8Array, n: number): DecodedPacket => ({
      tsSec,
      tsNsec: n * 1000,
      ipVersion: 4,
      protocol: IPPROTO_TCP,
      srcAddr: fromClient ? client : server,
      dstAddr: fromClient ? server : client,
      srcPort: fromClient ? clientPort : serverPort,
      dstPort: fromClient ? serverPort : clientPort,
      tcpFlags: flags,
      tcpSeq: 0,
      tcpAck: 0,
      ipLength: 40 + data.length,
      payload: data,
      payloadLength: data.length,
    });
    const none = new Uint8Array(0);
    const packets = [packet(true, TcpFlag.SYN, none, 0), packet(false, TcpFlag.SYN | TcpFlag.ACK, none, 1), packet(true, TcpFlag.ACK, none, 2)];
    const n = 1 + Math.floor(rand() * MAX_PAYLOAD_PACKETS);
    for (let i = 0; i < n; i++) packets.push(packet(rand() < 0.5, TcpFlag.ACK | TcpFlag.PSH, payload(kind, rand), 3 + i));
    flows.push(packets);
  }
  return flows;
}
