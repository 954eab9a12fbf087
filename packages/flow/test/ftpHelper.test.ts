import { describe, expect, it } from 'vitest';
import { parseFtpDataEndpoint } from '../src/ftpHelper.js';
import { seededRandom } from '../src/synth.js';

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** The announcement the expressions alone find, the text decoded whatever it holds: what the byte prefilter must never change. */
function model(text: string, fromClient: boolean): { addr: string | undefined; port: number } | undefined {
  if (text.length < 4 || text.length > 512) return undefined;
  const quad = (m: RegExpExecArray) => {
    const parts = m.slice(1, 7).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    const port = (parts[4]! << 8) | parts[5]!;
    return port === 0 ? undefined : { addr: parts.slice(0, 4).join('.'), port };
  };
  const ranged = (addr: string | undefined, n: string) => (Number(n) > 0 && Number(n) < 65536 ? { addr, port: Number(n) } : undefined);
  if (fromClient) {
    const port = /^(?:port) +(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/im.exec(text);
    if (port) return quad(port);
    const eprt = /^(?:eprt) +(.)([12])\1([^|\r\n]+)\1(\d{1,5})\1/im.exec(text);
    return eprt ? ranged(eprt[3]!.toLowerCase(), eprt[4]!) : undefined;
  }
  const pasv = /^227[ -][^(\r\n]*\(?(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/m.exec(text);
  if (pasv) return quad(pasv);
  const epsv = /^229[ -][^(\r\n]*\((.)\1\1(\d{1,5})\1\)/m.exec(text);
  return epsv ? ranged(undefined, epsv[2]!) : undefined;
}

describe('parseFtpDataEndpoint', () => {
  it('finds PORT/EPRT commands and 227/229 replies on any line, in any case', () => {
    expect(parseFtpDataEndpoint(bytes('PORT 10,0,0,1,4,1\r\n'), true)).toEqual({ addr: '10.0.0.1', port: 1025 });
    expect(parseFtpDataEndpoint(bytes('NOOP\r\nport 10,0,0,2,0,21\r\n'), true)).toEqual({ addr: '10.0.0.2', port: 21 });
    expect(parseFtpDataEndpoint(bytes('eprt |2|2001:DB8::1|5282|\r\n'), true)).toEqual({ addr: '2001:db8::1', port: 5282 });
    expect(parseFtpDataEndpoint(bytes('200 ok\r227 Entering Passive Mode (192,168,1,2,19,137).\r\n'), false)).toEqual({ addr: '192.168.1.2', port: 5001 });
    expect(parseFtpDataEndpoint(bytes('229 Entering Extended Passive Mode (|||6446|)\r\n'), false)).toEqual({ addr: undefined, port: 6446 });
    expect(parseFtpDataEndpoint(bytes('227 Entering Passive Mode (192,168,1,2,19,137).\r\n'), true)).toBeUndefined();
    expect(parseFtpDataEndpoint(bytes('220 FTP server ready\r\n'), false)).toBeUndefined();
  });

  it("reads a packet's payload where it lies", () => {
    const frame = bytes('xxxxPORT 10,0,0,1,4,1\r\nyyyy');
    expect(parseFtpDataEndpoint(frame, true, 4, frame.length - 4)).toEqual({ addr: '10.0.0.1', port: 1025 });
    expect(parseFtpDataEndpoint(frame, true, 5, frame.length - 4)).toBeUndefined();
  });

  it('finds what the expressions alone find, in segments made of pieces of commands and replies', () => {
    const rand = seededRandom(21);
    const pieces = ['PORT', 'port', 'PoRt', 'EPRT', 'eprt', '227', '229', '22', ' ', '-', '(', ')', '|', '||', '|||', ',', '1', '2', '19', '255', '300', '10,0,0,1,4,1', '|1|10.0.0.3|2000|', '\r', '\n', '\r\n', 'x', '\u00e9', '\u0000'];
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      const n = 1 + Math.floor(rand() * 14);
      for (let j = 0; j < n; j++) text += pieces[Math.floor(rand() * pieces.length)];
      for (const fromClient of [true, false]) {
        expect({ text, found: parseFtpDataEndpoint(bytes(text), fromClient) }).toEqual({ text, found: model(text, fromClient) });
      }
    }
  });
});
