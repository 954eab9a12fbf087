import { DEFAULT_MAX_PACKETS, flowKeyOf, PacketDecoder, readCaptureFile } from '@l7mesh/flow';

/** The head packets (first payload packets, l7's budget) of every flow of a capture. */
export async function collectFlowHeads(file: string, maxPackets = DEFAULT_MAX_PACKETS): Promise<Uint8Array[][]> {
  const heads = new Map<string, { packets: number; chunks: Uint8Array[] }>();
  const decoder = new PacketDecoder();
  await readCaptureFile(file, (frame) => {
    const p = decoder.decodeFrame(frame);
    if (!p) return;
    const key = flowKeyOf(p).key;
    let h = heads.get(key);
    if (!h) heads.set(key, (h = { packets: 0, chunks: [] }));
    if (++h.packets <= maxPackets && p.payloadLength > 0) h.chunks.push(Uint8Array.from(p.payload));
  });
  return [...heads.values()].map((h) => h.chunks).filter((c) => c.length > 0);
}
