/** Why a capture could not be read; stable codes so callers can branch without parsing messages. */
export type CaptureErrorCode = 'CAPTURE_BAD_MAGIC' | 'CAPTURE_TRUNCATED' | 'CAPTURE_CORRUPT' | 'CAPTURE_IO';

/**
 * A capture file that cannot be (fully) read. The message names the file and
 * the byte offset of the offending record so a user can inspect it with a hex
 * editor or `editcap`.
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  readonly code: CaptureErrorCode;
  /** Byte offset in the file of the record (or header) that failed. */
  readonly offset: number;
  readonly file?: string;

  constructor(code: CaptureErrorCode, detail: string, offset: number, file?: string, options?: { cause?: unknown }) {
    super(`${file ?? '<capture>'}: ${detail} (at byte offset ${offset})`, options);
    this.code = code;
    this.offset = offset;
    if (file !== undefined) this.file = file;
  }
}
