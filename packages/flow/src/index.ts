export { IPPROTO_TCP, IPPROTO_UDP, TcpFlag, type DecodedPacket, type TransportProtocol } from './packet.js';
export { CaptureError, CaptureParser, readCaptureFile, type CaptureFrame } from './capture.js';
export { LinkType, PacketDecoder, type DecodeStats } from './decoder.js';
export { buildFrame, encodePcap, encodePcapng, type SynthPacket } from './synth.js';
export { endpointsOfKey, flowKeyOf, formatAddress, type FlowEndpoints, type FlowKeyResult } from './flowKey.js';
export { DEFAULT_TIMEOUTS, FlowEntry, FlowTable, type FlowEndReason, type FlowTableOptions, type FlowTimeouts, type TrackResult } from './flowTable.js';
export { appendHeadBytes, DEFAULT_MAX_DATA_LEN, DEFAULT_MAX_PACKETS, headCapacity, MAX_DATA_LEN_LIMIT } from './flowHead.js';
export { ExpectationTable, FTP_EXPECTATION_TIMEOUT, parseFtpDataEndpoint, type FtpDataEndpoint } from './ftpHelper.js';
