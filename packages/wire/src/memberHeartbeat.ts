/**
 * Member heartbeat (type 3), written to the membership bucket.
 *
 *   header(4) | id: u8 len + bytes | role u8 (1 worker, 2 edge) | timeMs f64 | startedMs f64
 *   | ruleSetVersion u32 | partitions u32 | flowsInProgress u32 | decided f64 (integer)
 *   | latencyP50Us u32 | latencyP99Us u32
 *
 * Times are float64 because ms since the epoch do not fit a u32; `decided`
 * is a float64 because a long-running member can pass 2^32 flows.
 */
import { Encoder } from './encoder.js';
import { MessageType } from './format.js';
import { Reader } from './reader.js';
import { MemberRole, type MemberHeartbeat } from './types.js';

export function encodeMemberHeartbeat(h: MemberHeartbeat): Uint8Array {
  const e = new Encoder('member heartbeat', 96);
  e.object(h);
  e.header(MessageType.MemberHeartbeat);
  e.name('id', h.id);
  e.u8('role', h.role, MemberRole.Worker, MemberRole.Edge);
  e.f64('timeMs', h.timeMs, false);
  e.f64('startedMs', h.startedMs, false);
  e.u32('ruleSetVersion', h.ruleSetVersion);
  e.u32('partitions', h.partitions);
  e.u32('flowsInProgress', h.flowsInProgress);
  e.f64('decided', h.decided, true);
  e.u32('latencyP50Us', h.latencyP50Us);
  e.u32('latencyP99Us', h.latencyP99Us);
  return e.finish();
}

export function decodeMemberHeartbeat(bytes: Uint8Array): MemberHeartbeat {
  const r = new Reader(bytes, MessageType.MemberHeartbeat);
  const h: MemberHeartbeat = {
    id: r.name('id'),
    role: r.u8('role', MemberRole.Worker, MemberRole.Edge) as MemberRole,
    timeMs: r.f64('timeMs', false),
    startedMs: r.f64('startedMs', false),
    ruleSetVersion: r.u32('ruleSetVersion'),
    partitions: r.u32('partitions'),
    flowsInProgress: r.u32('flowsInProgress'),
    decided: r.f64('decided', true),
    latencyP50Us: r.u32('latencyP50Us'),
    latencyP99Us: r.u32('latencyP99Us'),
  };
  r.finish();
  return h;
}
