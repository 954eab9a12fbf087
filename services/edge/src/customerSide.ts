/**
 * Which side of a flow is the customer's: accounting's `in` is towards the
 * customers, `out` from them, so transit billed per link reads the same on
 * every edge.
 */
import { BlockList, isIP } from 'node:net';

export class CustomerSide {
  private readonly networks: BlockList | undefined;

  /**
   * `networks`: the customers' prefixes (a bare address is a host). None:
   * the side that opened the connection (its originator) is the customer's,
   * which is right for access networks whose customers open the
   * connections, and on a router that sees both directions.
   */
  constructor(networks?: readonly string[]) {
    if (networks === undefined || networks.length === 0) return;
    this.networks = new BlockList();
    for (const n of networks) {
      const [address, bits] = n.split('/') as [string, string | undefined];
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.networks.addAddress(address, type);
      else this.networks.addSubnet(address, Number(bits), type);
    }
  }

  /**
   * Is the originator's direction `out` (sent by a customer)? With
   * customer networks: the originator is in one, or else the responder is
   * not (traffic between two outside hosts, or between two customers, counts
   * as the originator's side's, like the default).
   */
  originatorIsCustomer(src: string, dst: string): boolean {
    if (!this.networks) return true;
    if (this.contains(src)) return true;
    return !this.contains(dst);
  }

  private contains(address: string): boolean {
    return this.networks!.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
  }
}
