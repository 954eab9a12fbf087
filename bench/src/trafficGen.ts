import { PcapStream } from './pcapStream.js';
import { buildFrame, seededRandom, TcpFlag, type SynthPacket } from '@l7mesh/flow';

/**
 * Writes a pcap of mixed traffic for benchmarks: many concurrent flows of
 * several protocols (HTTP, FTP, SSH, TLS, SMTP, DNS, and random bytes that no
 * pattern knows), each with a handshake, a few head packets and a bulk tail,
 * interleaved the way a router sees them.
 */

interface FlowPlan {
  packets: SynthPacket[];
  next: number;
}

const HEADS: { port: number; proto: 'tcp' | 'udp'; serverFirst?: boolean; client: string[]; server: string[] }[] = [
  { port: 80, proto: 'tcp', client: ['GET /images/logo.png HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n'], server: ['HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: image/png\r\nContent-Length: 40000\r\n\r\n'] },
  { port: 21, proto: 'tcp', serverFirst: true, client: ['USER anonymous\r\n', 'PASS bench@\r\n'], server: ['220 (vsFTPd 3.0.3)\r\n', '331 Please specify the password.\r\n'] },
  { port: 22, proto: 'tcp', serverFirst: true, client: ['SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'], server: ['SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'] },
  { port: 443, proto: 'tcp', client: ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + 'r'.repeat(32)], server: ['\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03' + 's'.repeat(32)] },
  { port: 25, proto: 'tcp', serverFirst: true, client: ['EHLO client.example.test\r\n'], server: ['220 mx.example.test ESMTP Postfix\r\n'] },
  { port: 53, proto: 'udp', client: ['\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01'], server: [] },
  { port: 9000, proto: 'tcp', client: [], server: [] },
];

function randomText(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rand() * 256));
  return s;
}

function planFlow(rand: () => number, index: number, t: number): FlowPlan {
  const kind = HEADS[Math.floor(rand() * HEADS.length)]!;
  const client = `198.18.${(index >> 8) & 0x7f}.${index & 0xff}`;
  const server = `198.19.${(index >> 12) & 0xff}.${1 + (index % 250)}`;
  const sport = 1024 + (index % 60000);
  const base = { src: client, dst: server, protocol: kind.proto, sport, dport: kind.port, tsSec: t } as const;
  const fromClient = (payload: string | undefined, flags?: number): SynthPacket => ({ ...base, payload, flags });
  const fromServer = (payload: string | undefined, flags?: number): SynthPacket => ({ ...base, src: server, dst: client, sport: kind.port, dport: sport, payload, flags });
  const packets: SynthPacket[] = [];
  if (kind.proto === 'udp') {
    packets.push(fromClient(kind.client[0]), fromServer(`${kind.client[0]!.slice(0, 2)}\x81\x80${randomText(rand, 40)}`));
    return { packets, next: 0 };
  }
  packets.push(fromClient(undefined, TcpFlag.SYN), fromServer(undefined, TcpFlag.SYN | TcpFlag.ACK), fromClient(undefined, TcpFlag.ACK));
  // Head packets alternate, starting with the side that speaks first.
  const first = kind.serverFirst ? kind.server : kind.client;
  const second = kind.serverFirst ? kind.client : kind.server;
  const heads = first.length + second.length === 0 ? [randomText(rand, 300), randomText(rand, 200)] : first.flatMap((h, i) => [h, second[i]]).filter((h): h is string => h !== undefined);
  const firstSide = kind.serverFirst ? fromServer : fromClient;
  const secondSide = kind.serverFirst ? fromClient : fromServer;
  heads.forEach((h, i) => packets.push(i % 2 === 0 ? firstSide(h) : secondSide(h)));
  // The bulk of a connection: most packets belong to flows decided long ago.
  const bulk = Math.floor(rand() * 40);
  const chunk = randomText(rand, 1200);
  for (let i = 0; i < bulk; i++) packets.push(i % 3 === 2 ? fromClient(undefined) : fromServer(chunk));
  packets.push(fromClient(undefined, TcpFlag.FIN | TcpFlag.ACK), fromServer(undefined, TcpFlag.FIN | TcpFlag.ACK), fromClient(undefined, TcpFlag.ACK));
  return { packets, next: 0 };
}

/** Writes about `packetCount` packets to `file` with `concurrent` flows open at a time. */
export async function writeMixedCapture(file: string, packetCount: number, concurrent = 2000, seed = 42): Promise<{ packets: number; flows: number; bytes: number }> {
  const rand = seededRandom(seed);
  const out = new PcapStream(file, { nanosecond: false, linkType: 1 });
  let packets = 0;
  let flows = 0;
  let usec = 0;
  const active: FlowPlan[] = [];
  while (packets < packetCount) {
    while (active.length < concurrent) active.push(planFlow(rand, flows++, 1_700_000_000));
    const slot = Math.floor(rand() * active.length);
    const plan = active[slot]!;
    const p = plan.packets[plan.next++]!;
    usec += 3;
    const frame = buildFrame({ ...p, tsSec: 1_700_000_000 + Math.floor(usec / 1e6) });
    await out.add(1_700_000_000 + Math.floor(usec / 1e6), usec % 1e6, frame);
    packets++;
    if (plan.next === plan.packets.length) {
      active[slot] = active[active.length - 1]!;
      active.pop();
    }
  }
  await out.close();
  return { packets, flows, bytes: out.bytes };
}
