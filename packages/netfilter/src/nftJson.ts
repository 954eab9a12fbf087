import type { IpFamily } from './config.js';
import type { FlowTuple } from './elementOps.js';
import { NetfilterError } from './errors.js';
import { statelessLiveSetName, type ElementTarget } from './statelessConfig.js';

/** One element of a flow set as `nft -j list set` shows it; the target is the set's. */
export interface FlowSetEntry {
  readonly key: FlowTuple;
  readonly target: ElementTarget;
  /** The element's own counter (the set has `counter`); 0 when it has none. */
  readonly packets: number;
  readonly bytes: number;
  /**
   * Time left before the element expires. nft 1.0.6's JSON gives whole
   * seconds (the text output has milliseconds), so this is a multiple of 1000.
   */
  readonly expiresMs?: number;
}

export interface CounterValue {
  readonly packets: number;
  readonly bytes: number;
}

type Json = Record<string, unknown>;

function parseError(field: string, message: string): NetfilterError {
  return new NetfilterError('NF_PARSE', `${field}: ${message}`, { field });
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `nftables` array of `nft -j` output, given as text or already parsed. */
function statements(json: unknown): unknown[] {
  let doc = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json);
    } catch (cause) {
      throw new NetfilterError('NF_PARSE', `not JSON: ${(cause as Error).message}`, { cause });
    }
  }
  if (!isObject(doc) || !Array.isArray(doc.nftables)) throw parseError('nftables', 'not nft -j output (no nftables array)');
  return doc.nftables;
}

/** Every `{ <kind>: {...} }` statement of the output, with its path for messages. */
function objectsOf(json: unknown, kind: 'set' | 'counter'): { field: string; value: Json }[] {
  const out: { field: string; value: Json }[] = [];
  statements(json).forEach((s, i) => {
    if (isObject(s) && isObject(s[kind])) out.push({ field: `nftables[${i}].${kind}`, value: s[kind] });
  });
  return out;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw parseError(field, `${JSON.stringify(value)} is not a count`);
  return value;
}

function port(value: unknown, field: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) throw parseError(field, `${JSON.stringify(value)} is not a port`);
  return n;
}

/** The family of a set from its key type (`ipv4_addr . ...`). */
function familyOf(container: Json, field: string): IpFamily {
  const first = Array.isArray(container.type) ? container.type[0] : container.type;
  if (first === 'ipv4_addr') return 'ipv4';
  if (first === 'ipv6_addr') return 'ipv6';
  throw parseError(`${field}.type`, `${JSON.stringify(container.type)} is not a flow-tuple type`);
}

/** A key `{ concat: [src, proto, sport, dst, dport] }`. */
function flowKey(value: unknown, family: IpFamily, field: string): FlowTuple {
  const parts = isObject(value) ? value.concat : undefined;
  if (!Array.isArray(parts) || parts.length !== 5) throw parseError(field, 'is not a 5-part flow key');
  const [src, proto, sport, dst, dport] = parts as unknown[];
  const protocol = proto === 'tcp' || proto === 6 ? 'tcp' : proto === 'udp' || proto === 17 ? 'udp' : undefined;
  if (protocol === undefined) throw parseError(`${field}.concat[1]`, `${JSON.stringify(proto)} is not tcp or udp`);
  if (typeof src !== 'string') throw parseError(`${field}.concat[0]`, 'is not an address');
  if (typeof dst !== 'string') throw parseError(`${field}.concat[3]`, 'is not an address');
  return { family, protocol, src, sport: port(sport, `${field}.concat[2]`), dst, dport: port(dport, `${field}.concat[4]`) };
}

/**
 * An element as nft prints it: the bare key, or `{ elem: { val, timeout,
 * expires, counter } }` when it has any of those; `at` is the key's path
 * below the element's.
 */
function elementParts(value: unknown): { val: unknown; meta: Json; at: string } {
  if (isObject(value) && isObject(value.elem)) return { val: value.elem.val, meta: value.elem, at: '.elem.val' };
  return { val: value, meta: {}, at: '' };
}

const LIVE_SETS: readonly unknown[] = [statelessLiveSetName('ipv4'), statelessLiveSetName('ipv6')];

function elementsOf(container: Json): unknown[] {
  return Array.isArray(container.elem) ? container.elem : [];
}

/** The flows in the live set(s) of `nft -j list set inet <table> live4` (or of a whole table listing). */
export function parseLiveSet(json: unknown): FlowTuple[] {
  const out: FlowTuple[] = [];
  for (const { field, value } of objectsOf(json, 'set')) {
    if (!LIVE_SETS.includes(value.name)) continue;
    const family = familyOf(value, field);
    elementsOf(value).forEach((e, j) => {
      const { val, at } = elementParts(e);
      out.push(flowKey(val, family, `${field}.elem[${j}]${at}`));
    });
  }
  return out;
}

/** `statelessTargetSet`'s names: `flows4_hold`, `flows6_watch`, `flows4_0x100`. */
const FLOW_SET = /^flows[46]_(hold|watch|0x[1-9a-f][0-9a-f]{0,7})$/;

/**
 * Every element of the flow sets in `nft -j list set inet <table> flows4_0x100`
 * (or a whole table listing), with the target its set stands for.
 */
export function parseFlowSets(json: unknown): FlowSetEntry[] {
  const out: FlowSetEntry[] = [];
  for (const { field, value } of objectsOf(json, 'set')) {
    const m = typeof value.name === 'string' ? FLOW_SET.exec(value.name) : null;
    if (!m) continue;
    const target: ElementTarget = m[1] === 'hold' || m[1] === 'watch' ? m[1] : { mark: parseInt(m[1]!, 16) };
    const family = familyOf(value, field);
    elementsOf(value).forEach((e, j) => {
      const f = `${field}.elem[${j}]`;
      const { val, meta, at } = elementParts(e);
      const counter = isObject(meta.counter) ? meta.counter : {};
      const entry: FlowSetEntry = {
        key: flowKey(val, family, `${f}${at}`),
        target,
        packets: counter.packets === undefined ? 0 : count(counter.packets, `${f}.elem.counter.packets`),
        bytes: counter.bytes === undefined ? 0 : count(counter.bytes, `${f}.elem.counter.bytes`),
      };
      out.push(meta.expires === undefined ? entry : { ...entry, expiresMs: count(meta.expires, `${f}.elem.expires`) * 1000 });
    });
  }
  return out;
}

/** Named counters by name, from `nft -j list counters table inet <table>` (or a whole table listing). */
export function parseCounters(json: unknown): Record<string, CounterValue> {
  const out: Record<string, CounterValue> = {};
  for (const { field, value } of objectsOf(json, 'counter')) {
    if (typeof value.name !== 'string') throw parseError(`${field}.name`, 'missing');
    out[value.name] = { packets: count(value.packets, `${field}.packets`), bytes: count(value.bytes, `${field}.bytes`) };
  }
  return out;
}
