/** Test-packet synthesis: frames, IP fragments, and pcap/pcapng files for tests and benchmarks. */
export {
  buildFrame,
  buildIpPacket,
  buildTransport,
  concatBytes,
  internetChecksum,
  payloadBytes,
  SynthError,
  wrapLink,
  type SynthExtHeader,
  type SynthFrameOptions,
  type SynthIpOptions,
  type SynthLinkOptions,
  type SynthPacket,
} from './synth-frame.js';
export { fragmentIpv4, fragmentIpv6, ipv4Fragment, ipv6Fragment } from './synth-fragment.js';
export {
  encodePcap,
  encodePcapng,
  pcapngBlock,
  pcapngEnhancedPacket,
  pcapngInterface,
  pcapngSectionHeader,
  pcapngSimplePacket,
  type EncodePcapOptions,
  type PcapngInterfaceInput,
  type PcapngPacketInput,
  type PcapRecordInput,
} from './synth-capture.js';
export { seededRandom } from './synth-random.js';
