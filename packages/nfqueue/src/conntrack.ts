// Conntrack mark updates for flows whose verdict comes after their last
// queued packet: the mark is written straight into the conntrack entry.
import { constants } from 'node:os';
import { NfqueueError } from './errors.js';
import { addon } from './native.js';

const ENOENT = 2;

/** A conntrack entry, named by its ORIGINAL-direction tuple. */
export interface ConntrackTuple {
  family: 4 | 6;
  /** 6 TCP, 17 UDP (132 SCTP and 136 UDP-Lite also work). */
  protocol: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Conntrack zone, default 0. */
  zone?: number;
}

export interface ConntrackMarkUpdate {
  tuple: ConntrackTuple;
  mark: number;
  /** Bits of the mark to change; the others keep their value. Default 0xffffffff. */
  mask?: number;
}

function u32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', `${what} must be an integer in 0..0xffffffff, got ${v}`);
  }
  return v;
}

function describe(t: ConntrackTuple): string {
  const fmt = (a: string, p: number) => (t.family === 6 ? `[${a}]:${p}` : `${a}:${p}`);
  return `proto ${t.protocol} ${fmt(t.src, t.sport)} -> ${fmt(t.dst, t.dport)}`;
}

/**
 * Sets `mark & mask` into the conntrack entry of each tuple, leaving the bits
 * outside `mask` untouched (the kernel applies CTA_MARK_MASK atomically).
 * All updates go out in one netlink send (per 128). Returns, per update,
 * true if the entry was found and updated, false if there is no such entry.
 * Any other kernel answer throws CT_UPDATE.
 */
export function setConntrackMarks(updates: readonly ConntrackMarkUpdate[]): boolean[] {
  if (!Array.isArray(updates)) {
    throw new NfqueueError('NFQ_INVALID_ARGUMENT', 'setConntrackMarks: updates must be an array');
  }
  const entries: ConntrackTuple[] = [];
  const marks = new Uint32Array(updates.length);
  const masks = new Uint32Array(updates.length);
  updates.forEach((u, i) => {
    if (u === null || typeof u !== 'object' || u.tuple === null || typeof u.tuple !== 'object') {
      throw new NfqueueError('NFQ_INVALID_ARGUMENT', `setConntrackMarks: updates[${i}] needs a tuple`, { index: i });
    }
    entries.push(u.tuple);
    marks[i] = u32(u.mark, `setConntrackMarks: updates[${i}].mark`);
    masks[i] = u.mask === undefined ? 0xffffffff : u32(u.mask, `setConntrackMarks: updates[${i}].mask`);
  });
  const codes = addon.setConntrackMarks(entries, marks, masks);
  return Array.from(codes, (code, i) => {
    if (code === 0) return true;
    if (code === ENOENT) return false;
    const name = Object.entries(constants.errno).find(([, v]) => v === code)?.[0] ?? `errno ${code}`;
    const hint =
      name === 'EPERM' ? ' (needs CAP_NET_ADMIN)' : name === 'EINVAL' ? ' (invalid tuple, or ctnetlink unavailable)' : '';
    throw new NfqueueError(
      'CT_UPDATE',
      `setConntrackMark: update of ${describe(updates[i]!.tuple)} failed: ${name}${hint}`,
      { errno: code, index: i },
    );
  });
}

/**
 * Sets `mark & mask` into the conntrack entry of `tuple` (orig direction),
 * leaving the other bits of its mark as they were. Returns false when there is
 * no such entry (ENOENT), true when it was updated.
 */
export function setConntrackMark(tuple: ConntrackTuple, mark: number, mask = 0xffffffff): boolean {
  return setConntrackMarks([{ tuple, mark, mask }])[0]!;
}
