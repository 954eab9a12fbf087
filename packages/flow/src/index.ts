export { IPPROTO_TCP, IPPROTO_UDP, TcpFlag, type DecodedPacket, type TransportProtocol } from './packet.js';
export { CaptureError, CaptureParser, readCaptureFile, type CaptureErrorCode, type CaptureFormat, type CaptureFrame, type ReadCaptureOptions, type ReadCaptureResult } from './capture.js';
export { LinkType, PacketDecoder, SharedPacket, type DecodeStats, type PacketDecoderOptions } from './decoder.js';
export { formatIpAddress, IpAddressError, parseIpAddress } from './ip-address.js';
export { buildFrame, encodePcap, encodePcapng, fragmentIpv4, fragmentIpv6, seededRandom, SynthError, type SynthPacket } from './synth.js';
export { endpointsOfKey, flowKeyOf, type FlowEndpoints, type FlowKeyResult } from './flowKey.js';
export { DEFAULT_TIMEOUTS, FlowEntry, FlowTable, type FlowEndReason, type FlowTableOptions, type FlowTimeouts, type TrackResult } from './flowTable.js';
export { appendHeadBytes, copyHeadBytes, DEFAULT_MAX_DATA_LEN, foldAsciiCase, DEFAULT_MAX_PACKETS, headCapacity, MAX_DATA_LEN_LIMIT } from './flowHead.js';
export { ExpectationTable, FTP_EXPECTATION_TIMEOUT, parseFtpDataEndpoint, type FtpDataEndpoint } from './ftpHelper.js';
