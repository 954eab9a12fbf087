/** Capture reading: pcap and pcapng, incremental (CaptureParser) or from a file (readCaptureFile). */
export { CaptureError, type CaptureErrorCode } from './capture-error.js';
export { type CaptureFormat, type CaptureFrame } from './capture-frame.js';
export { CaptureParser } from './capture-parser.js';
export { readCaptureFile, type ReadCaptureOptions, type ReadCaptureResult } from './capture-file.js';
