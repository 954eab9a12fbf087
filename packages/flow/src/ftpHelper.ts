/**
 * The part of conntrack's FTP helper that l7-filter relied on: the control
 * connection announces the endpoint of each data connection (PORT/EPRT from
 * the client, 227/229 replies from the server). conntrack records an
 * expectation, and the data connection that matches it becomes a child of the
 * control connection; l7-filter then gave the child its master's protocol.
 */

/** The responder endpoint a data connection will be opened to. */
export interface FtpDataEndpoint {
  /** Dotted quad or IPv6 text; undefined for 229 (same host as the server). */
  addr: string | undefined;
  port: number;
}

const PORT_RE = /^(?:port) +(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/im;
const EPRT_RE = /^(?:eprt) +(.)([12])\1([^|\r\n]+)\1(\d{1,5})\1/im;
const PASV_RE = /^227[ -][^(\r\n]*\(?(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/m;
const EPSV_RE = /^229[ -][^(\r\n]*\((.)\1\1(\d{1,5})\1\)/m;

function byte(s: string): number | undefined {
  const n = Number(s);
  return n <= 255 ? n : undefined;
}

function quadEndpoint(m: RegExpExecArray): FtpDataEndpoint | undefined {
  const parts = m.slice(1, 7).map(byte);
  if (parts.some((p) => p === undefined)) return undefined;
  const [a, b, c, d, hi, lo] = parts as number[];
  const port = (hi! << 8) | lo!;
  return port === 0 ? undefined : { addr: `${a}.${b}.${c}.${d}`, port };
}

/**
 * Finds a data-connection announcement in one control-connection segment
 * (`payload`, or its bytes [start, end): a packet's payload where it lies).
 * `fromClient` selects the commands (client) or the replies (server).
 */
export function parseFtpDataEndpoint(payload: Uint8Array, fromClient: boolean, start = 0, end = payload.length): FtpDataEndpoint | undefined {
  const length = end - start;
  if (length < 4 || length > 512) return undefined;
  if (!mayAnnounce(payload, start, end, fromClient)) return undefined;
  const text = Buffer.from(payload.buffer, payload.byteOffset + start, length).toString('latin1');
  if (fromClient) {
    const port = PORT_RE.exec(text);
    if (port) return quadEndpoint(port);
    const eprt = EPRT_RE.exec(text);
    if (!eprt) return undefined;
    const portNumber = Number(eprt[4]);
    return portNumber > 0 && portNumber < 65536 ? { addr: eprt[3]!.toLowerCase(), port: portNumber } : undefined;
  }
  const pasv = PASV_RE.exec(text);
  if (pasv) return quadEndpoint(pasv);
  const epsv = EPSV_RE.exec(text);
  if (!epsv) return undefined;
  const portNumber = Number(epsv[2]);
  return portNumber > 0 && portNumber < 65536 ? { addr: undefined, port: portNumber } : undefined;
}

/**
 * Whether a line of the segment starts the way the expressions above need
 * (PORT or EPRT in any case, or 227 or 229): most segments, and every
 * segment of a connection on port 21 that is not FTP, are then turned away
 * without being decoded into a string for them. Lines start where `^` with
 * the m flag does: at the start and after every CR or LF (the only line
 * terminators among latin1 characters).
 */
function mayAnnounce(b: Uint8Array, start: number, end: number, fromClient: boolean): boolean {
  for (let i = start; i + 3 < end; ) {
    const c0 = b[i]! | 0x20;
    const c1 = b[i + 1]! | 0x20;
    const c2 = b[i + 2]! | 0x20;
    const c3 = b[i + 3]! | 0x20;
    if (fromClient) {
      // `| 0x20` lowercases: only 'P' and 'p' give 'p', and so on for each letter.
      if ((c0 === 0x70 /* p */ && c1 === 0x6f /* o */) || (c0 === 0x65 /* e */ && c1 === 0x70) /* p */) {
        if (c2 === 0x72 /* r */ && c3 === 0x74 /* t */) return true;
      }
    } else if (b[i] === 0x32 && b[i + 1] === 0x32 && (b[i + 2] === 0x37 || b[i + 2] === 0x39)) {
      return true;
    }
    while (i < end && b[i] !== 0x0a && b[i] !== 0x0d) i++;
    i++;
  }
  return false;
}

/** conntrack's FTP expectations live 5 minutes. */
export const FTP_EXPECTATION_TIMEOUT = 300;

interface Expectation {
  parentKey: string;
  expiresSec: number;
  port: number;
}

/**
 * Pending expectations, keyed by the data connection's responder endpoint.
 * Bounded: the oldest entries go first when it is full.
 */
export class ExpectationTable {
  private readonly pending = new Map<string, Expectation>();
  /**
   * Pending expectations per port: most new connections go to a port no
   * expectation names, and {@link expecting} says so before any address is
   * formatted (expectations never claimed, such as an active-mode client's
   * behind NAT, stay pending for minutes on a busy FTP server).
   */
  private readonly ports = new Map<number, number>();

  constructor(private readonly maxEntries = 4096) {}

  expect(addr: string, port: number, parentKey: string, nowSec: number): void {
    const k = `${addr}|${port}`;
    this.remove(k);
    if (this.pending.size >= this.maxEntries) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.remove(oldest);
    }
    this.pending.set(k, { parentKey, expiresSec: nowSec + FTP_EXPECTATION_TIMEOUT, port });
    this.ports.set(port, (this.ports.get(port) ?? 0) + 1);
  }

  /** True when some expectation names this port: only then can a connection to it claim one. */
  expecting(port: number): boolean {
    return this.ports.has(port);
  }

  /** Claims the expectation for a new connection to addr:port (each is used once). */
  claim(addr: string, port: number, nowSec: number): string | undefined {
    if (!this.ports.has(port)) return undefined;
    const k = `${addr}|${port}`;
    const e = this.remove(k);
    if (!e) return undefined;
    return e.expiresSec >= nowSec ? e.parentKey : undefined;
  }

  get size(): number {
    return this.pending.size;
  }

  private remove(k: string): Expectation | undefined {
    const e = this.pending.get(k);
    if (!e) return undefined;
    this.pending.delete(k);
    const n = this.ports.get(e.port)!;
    if (n > 1) this.ports.set(e.port, n - 1);
    else this.ports.delete(e.port);
    return e;
  }
}
