import { formatIpAddress, parseIpAddress } from '@l7mesh/flow';
import { EngineError } from './errors.js';
import { parseProtocolLabel } from './protocolNames.js';

/**
 * One labelled connection of a ground truth: its 5-tuple (either direction
 * may be given), the protocols it is labelled with, and optionally the
 * capture it is in and when it started.
 */
export interface TruthFlow {
  /** Where it was read, "file:line". */
  source: string;
  /** The capture it belongs to (a path under the captures directory, or a file name); any capture when unset. */
  capture?: string;
  /** Unset when the truth does not say: either transport then matches. */
  proto?: 'tcp' | 'udp';
  /** Addresses in canonical text (dotted IPv4, RFC 5952 IPv6). */
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** Canonical protocol names (aliases resolved); empty when the connection is not labelled. */
  labels: string[];
  /** The label as written. */
  label: string;
  /** Seconds since the epoch of the connection's first packet, when known. */
  start?: number;
}

export interface GroundTruth {
  flows: TruthFlow[];
  /** Rows about other transports than TCP and UDP (ICMP, ...), which the classifier never sees. */
  notTcpUdp: number;
}

type Column = 'capture' | 'proto' | 'src' | 'sport' | 'dst' | 'dport' | 'label' | 'start';

/**
 * Column names: the project's TSV names, and Zeek's conn.log names for the
 * same things (`ts`, `id.orig_h`, ..., `service`).
 */
const COLUMNS: Readonly<Record<string, Column>> = {
  capture: 'capture',
  proto: 'proto',
  src: 'src',
  sport: 'sport',
  dst: 'dst',
  dport: 'dport',
  label: 'label',
  start: 'start',
  ts: 'start',
  'id.orig_h': 'src',
  'id.orig_p': 'sport',
  'id.resp_h': 'dst',
  'id.resp_p': 'dport',
  service: 'label',
};

const REQUIRED: readonly Column[] = ['src', 'sport', 'dst', 'dport', 'label'];

/** Values that mean "not set": Zeek's unset and empty fields, and btest's masked timestamps. */
function isUnset(v: string): boolean {
  return v === '' || v === '-' || v === '(empty)' || /^X+(\.X+)?$/.test(v);
}

function fail(where: string, message: string): never {
  throw new EngineError('ENGINE_BAD_TRUTH', `${where}: ${message}`);
}

function canonicalAddress(text: string, where: string): string {
  try {
    return formatIpAddress(parseIpAddress(text));
  } catch {
    return fail(where, `not an IP address: ${JSON.stringify(text)}`);
  }
}

function port(text: string, where: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) fail(where, `not a port: ${JSON.stringify(text)}`);
  return n;
}

/** tcp, udp, or undefined when unset; null for other transports. */
function transport(text: string, where: string): 'tcp' | 'udp' | undefined | null {
  if (isUnset(text)) return undefined;
  const t = text.toLowerCase();
  if (t === 'tcp' || t === '6') return 'tcp';
  if (t === 'udp' || t === '17') return 'udp';
  if (/^[a-z0-9_-]+$/.test(t)) return null;
  return fail(where, `not a transport protocol: ${JSON.stringify(text)}`);
}

/**
 * Reads a ground-truth file: tab-separated columns named by its first line
 * that is not a comment (`#`), or by a Zeek `#fields` line. Required: src,
 * sport, dst, dport, label (Zeek: id.orig_h, id.orig_p, id.resp_h,
 * id.resp_p, service); optional: proto, start (Zeek: ts), capture. Other
 * columns are ignored, so a Zeek conn.log is read as it is. A label is one
 * protocol or several, comma-separated; `-` or empty means unlabelled.
 */
export function parseGroundTruth(text: string, file: string): GroundTruth {
  const flows: TruthFlow[] = [];
  let notTcpUdp = 0;
  let index: Partial<Record<Column, number>> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const where = `${file}:${i + 1}`;
    if (line.trim() === '') continue;
    let header: string[] | undefined;
    if (line.startsWith('#fields\t')) {
      header = line.split('\t').slice(1);
    } else if (line.startsWith('#')) {
      const sep = /^#separator\s+(\S+)/.exec(line);
      if (sep && sep[1] !== '\\x09') fail(where, `only tab-separated logs are read (#separator ${sep[1]})`);
      continue;
    } else if (!index) {
      header = line.split('\t');
    }
    if (header) {
      const found: Partial<Record<Column, number>> = {};
      header.forEach((name, col) => {
        const c = COLUMNS[name.trim()];
        if (c !== undefined && found[c] === undefined) found[c] = col;
      });
      const missing = REQUIRED.filter((c) => found[c] === undefined);
      if (missing.length > 0) fail(where, `the header names no ${missing.join(', ')} column (columns: proto, src, sport, dst, dport, label, optional start and capture; or a Zeek conn.log)`);
      index = found;
      continue;
    }
    const cells = line.split('\t');
    const cell = (c: Column): string => {
      const at = index![c];
      return at === undefined ? '' : (cells[at] ?? '').trim();
    };
    const proto = transport(cell('proto'), where);
    if (proto === null) {
      notTcpUdp++;
      continue;
    }
    const startText = cell('start');
    let start: number | undefined;
    if (!isUnset(startText)) {
      start = Number(startText);
      if (!Number.isFinite(start)) fail(where, `not a time in seconds: ${JSON.stringify(startText)}`);
    }
    const label = cell('label');
    const capture = cell('capture');
    const flow: TruthFlow = {
      source: where,
      src: canonicalAddress(cell('src'), where),
      sport: port(cell('sport'), where),
      dst: canonicalAddress(cell('dst'), where),
      dport: port(cell('dport'), where),
      labels: parseProtocolLabel(label),
      label,
    };
    if (proto !== undefined) flow.proto = proto;
    if (start !== undefined) flow.start = start;
    if (!isUnset(capture)) flow.capture = capture;
    flows.push(flow);
  }
  if (!index) fail(file, 'no header line: expected columns proto, src, sport, dst, dport, label (optional start, capture), or a Zeek conn.log');
  return { flows, notTcpUdp };
}
