import { readCaptureFile } from './capture.js';
import { PacketDecoder } from './decoder.js';
import { flowKeyOf } from './flowKey.js';
import { encodePcap, type PcapRecordInput } from './synth-capture.js';

export interface DirectionSplit {
  /** pcap files (nanosecond timestamps, the capture's link type): what each flow's originator sent, and what its responder sent. */
  orig: Uint8Array;
  reply: Uint8Array;
  /** Frames left out: not TCP/UDP, or undecodable. */
  skipped: number;
}

/**
 * Splits a capture by direction, as two routers of an asymmetric path would
 * each see it: the originator's packets of every flow (the sender of its
 * first packet) in one file, the responder's in the other. For labs and
 * tests of the cluster's merge; a capture of one link type only.
 */
export async function splitCaptureByDirection(file: string): Promise<DirectionSplit> {
  const decoder = new PacketDecoder();
  const originators = new Map<string, boolean>();
  const orig: PcapRecordInput[] = [];
  const reply: PcapRecordInput[] = [];
  let linkType: number | undefined;
  let skipped = 0;
  await readCaptureFile(file, (frame) => {
    linkType ??= frame.linkType;
    const p = linkType === frame.linkType ? decoder.decodeFrame(frame) : null;
    if (!p) {
      skipped++;
      return;
    }
    const { key, srcIsLow } = flowKeyOf(p);
    let origIsLow = originators.get(key);
    if (origIsLow === undefined) originators.set(key, (origIsLow = srcIsLow));
    const record = { tsSec: frame.tsSec, tsNsec: frame.tsNsec, data: frame.data.slice(), originalLength: frame.originalLength };
    (srcIsLow === origIsLow ? orig : reply).push(record);
  });
  const options = { linkType: linkType ?? 1, nanosecond: true };
  return { orig: encodePcap(orig, options), reply: encodePcap(reply, options), skipped };
}
