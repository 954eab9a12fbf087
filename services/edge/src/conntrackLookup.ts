/**
 * The NAT translator's conntrack lookup through the nfqueue addon's
 * conntrackReply: the reply tuple of a connection by its original tuple,
 * in the edge's own tuple form.
 */
import type { ConntrackTuple as NfConntrackTuple } from '@l7mesh/nfqueue';
import type { ConntrackReplyLookup } from './natTranslator.js';

/**
 * A lookup for NatTranslator. A failed lookup (anything but "no such
 * entry": EPERM, a kernel that stops answering) goes to `onError` and
 * answers undefined, so the flow is reported under the tuple the edge saw
 * (counted as missing) instead of the error reaching the packet path.
 */
export function conntrackReplyLookup(conntrackReply: (tuple: NfConntrackTuple) => NfConntrackTuple | undefined, onError: (err: unknown) => void = () => {}): ConntrackReplyLookup {
  return (t) => {
    let r: NfConntrackTuple | undefined;
    try {
      r = conntrackReply({ family: t.family === 'ipv4' ? 4 : 6, protocol: t.protocol === 'tcp' ? 6 : 17, src: t.src, dst: t.dst, sport: t.sport, dport: t.dport });
    } catch (err) {
      onError(err);
      return undefined;
    }
    return r && { family: t.family, protocol: t.protocol, src: r.src, dst: r.dst, sport: r.sport, dport: r.dport };
  };
}
