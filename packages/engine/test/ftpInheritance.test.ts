import { describe, expect, it } from 'vitest';
import { createHeadScanner, describeFlowKey, FlowClassifier } from '../src/index.js';
import { classify, conversation, ENGINES, HANDSHAKE, patternSet } from './helpers.js';

// FTP data connections inherit the control connection's protocol, as
// l7-filter's matches did through conntrack's FTP helper.
describe.each(ENGINES)('FTP data inheritance (%s engine)', (engine) => {
  const set = patternSet({ ftp: '^220[\\x09-\\x0d -~]*ftp' });

  it('passive mode (227): the data connection to the announced port is ftp', () => {
    const control = conversation([...HANDSHAKE, { from: 's', payload: '220 FTP ready\r\n' }, { from: 'c', payload: 'PASV\r\n' }, { from: 's', payload: '227 Entering Passive Mode (198,18,0,2,195,80).\r\n' }], { port: 21 });
    const data = conversation([...HANDSHAKE, { from: 's', payload: '\x89PNG random bytes' }], { port: 50000, clientPort: 40001, t0: 1_700_000_010 });
    const recs = classify(set, engine, [...control, ...data]);
    const child = recs.find((r) => r.dport === 50000)!;
    expect(child.l7).toBe('ftp');
    expect(child.why).toEqual({ by: 'inherited', packet: 1, parent: '198.18.0.1:40000 -> 198.18.0.2:21' });
  });

  it('active mode (PORT): the server-opened data connection is ftp', () => {
    const control = conversation([...HANDSHAKE, { from: 's', payload: '220 FTP ready\r\n' }, { from: 'c', payload: 'PORT 198,18,0,1,156,65\r\n' }], { port: 21 });
    // The server connects back from port 20 to the client's announced port 40001.
    const data = conversation([...HANDSHAKE, { from: 'c', payload: 'file contents' }], { client: '198.18.0.2', server: '198.18.0.1', clientPort: 20, port: 40001, t0: 1_700_000_010 });
    const recs = classify(set, engine, [...control, ...data]);
    expect(recs.find((r) => r.sport === 20)!.l7).toBe('ftp');
  });

  it('a connection nobody announced is classified on its own', () => {
    const control = conversation([...HANDSHAKE, { from: 's', payload: '220 FTP ready\r\n' }, { from: 'c', payload: 'PASV\r\n' }, { from: 's', payload: '227 Entering Passive Mode (198,18,0,2,195,80).\r\n' }], { port: 21 });
    const other = conversation([{ from: 'c', payload: 'not ftp' }], { port: 50001, clientPort: 40002, t0: 1_700_000_010 });
    const recs = classify(set, engine, [...control, ...other]);
    expect(recs.find((r) => r.dport === 50001)!.l7).toBe('unset');
  });

  it('a data connection over before its control connection is decided takes the verdict when the control gets it', () => {
    const control = conversation([...HANDSHAKE, { from: 's', payload: '220 ready\r\n' }, { from: 'c', payload: 'PASV\r\n' }, { from: 's', payload: '227 Entering Passive Mode (198,18,0,2,195,80).\r\n' }], { port: 21 });
    const data = conversation([...HANDSHAKE, { from: 's', payload: 'file contents' }], { port: 50000, clientPort: 40001, t0: 1_700_000_010 });
    const late = conversation([{ from: 's', payload: '226 ftp transfer done\r\n' }], { port: 21, t0: 1_700_000_020 });
    const decided: string[] = [];
    const scanner = createHeadScanner(engine, set);
    const classifier = new FlowClassifier(set, scanner, { onDecision: (f) => decided.push(`${f.l7} ${describeFlowKey(f.key, f.origIsLow)}`) });
    for (const p of [...control, ...data]) classifier.process(p);
    classifier.flush();
    expect(decided).toEqual([]);
    for (const p of late) classifier.process(p);
    classifier.flush();
    // No packet of the data connection came after the control's verdict: it is decided all the same.
    expect(decided).toEqual(['ftp 198.18.0.1:40000 -> 198.18.0.2:21', 'ftp 198.18.0.1:40001 -> 198.18.0.2:50000']);
    classifier.finish();
    scanner.close?.();
  });

  it('a data connection opened while the control connection’s deciding test still waits in the queue is decided once', () => {
    const control = conversation([...HANDSHAKE, { from: 's', payload: '220 FTP ready\r\n' }, { from: 'c', payload: 'PASV\r\n' }, { from: 's', payload: '227 Entering Passive Mode (198,18,0,2,195,80).\r\n' }], { port: 21 });
    const data = conversation([...HANDSHAKE, { from: 's', payload: 'file contents' }], { port: 50000, clientPort: 40001, t0: 1_700_000_010 });
    const decided: string[] = [];
    const scanner = createHeadScanner(engine, set);
    const classifier = new FlowClassifier(set, scanner, { onDecision: (f) => decided.push(`${f.l7} ${f.decidedBy} ${describeFlowKey(f.key, f.origIsLow)}`) });
    // One batch, no flush between: the banner's test is still queued when the data connection's SYN comes.
    for (const p of [...control, ...data]) classifier.process(p);
    classifier.flush();
    expect(decided).toEqual(['ftp ftp.pat 198.18.0.1:40000 -> 198.18.0.2:21', 'ftp inherited 198.18.0.1:40001 -> 198.18.0.2:50000']);
    classifier.finish();
    scanner.close?.();
  });
});
