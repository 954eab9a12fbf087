/**
 * One table of other names for protocols, so that a name from another era or
 * tool means the same protocol everywhere: in `--order`, in the edge's
 * configuration, and in the ground truth that `patterns score` compares with.
 * Keys are lower case; values are the names this project's patterns use (or,
 * for protocols it has no pattern for, one chosen name).
 *
 * Only true synonyms belong here: names for the same wire protocol. l7-filter's
 * narrower HTTP patterns (httpvideo, http-itunes, ...) are not synonyms of
 * http, and an operator's rule for them means something else.
 */
export const PROTOCOL_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  // l7-filter's l7-protocols names
  ssl: 'tls',
  jabber: 'xmpp',
  nbns: 'netbios-ns',
  netbios: 'netbios-ssn',
  subversion: 'svn',
  // Zeek's service names (conn.log)
  'ftp-data': 'ftp',
  krb: 'kerberos',
  krb_tcp: 'kerberos',
  rfb: 'vnc',
  dce_rpc: 'dcerpc',
  ldap_tcp: 'ldap',
  ldap_udp: 'ldap',
  rdpeudp: 'rdp',
  // Suricata's app-layer names (eve.json app_proto, event types)
  ftp_data: 'ftp',
  krb5: 'kerberos',
  pgsql: 'postgresql',
  'bittorrent-dht': 'bittorrent',
  bittorrent_dht: 'bittorrent',
  ikev2: 'ike',
  doh2: 'http2',
  http1: 'http',
  http_any: 'http',
  // DNS's message format on other ports: a payload pattern cannot tell them
  // apart (RFC 6762 mDNS on 5353, RFC 4795 LLMNR on 5355), so they are DNS.
  mdns: 'dns',
  llmnr: 'dns',
  // DNS over TLS is TLS on the wire; only the port says otherwise.
  dot: 'tls',
  // A WebSocket connection is an HTTP/1.1 connection that was upgraded: its
  // first bytes are an HTTP request.
  websocket: 'http',
  // Others' spellings
  postgres: 'postgresql',
  smb2: 'smb',
  smb3: 'smb',
  cifs: 'smb',
  socks4: 'socks',
  socks5: 'socks',
  bootp: 'dhcp',
  turn: 'stun',
  portmap: 'sunrpc',
  portmapper: 'sunrpc',
  rpc: 'sunrpc',
  // NFS and mountd are ONC RPC programs: the sunrpc pattern's calls.
  nfs: 'sunrpc',
  mount: 'sunrpc',
});

/** The name a protocol has in this project: lower case, aliases resolved. */
export function canonicalProtocol(name: string): string {
  const n = name.trim().toLowerCase();
  return PROTOCOL_ALIASES[n] ?? n;
}

/**
 * Protocols that are carried inside another (authentication inside SMB or
 * LDAP, TLS after STARTTLS, HTTP through SOCKS or a CONNECT), innermost
 * first. When a label names several protocols, the one a flow is counted
 * under is the first that is not listed here, else the outermost listed.
 */
export const CARRIED_PROTOCOLS: readonly string[] = Object.freeze(['ntlm', 'gssapi', 'kerberos', 'dcerpc', 'tls', 'http']);

/**
 * A label as Zeek's `service` column writes it: one protocol or several,
 * comma-separated (the analyzers that confirmed the connection). Returns the
 * canonical names, duplicates dropped, in the label's order; empty for an
 * unset label (`-`, `(empty)` or nothing) and for the verdicts that name no
 * protocol (`unknown`, `unset`). Zeek 7 marks an analyzer that confirmed
 * and then failed with a leading `-` (`ftp,-ftp`): such entries are dropped.
 */
export function parseProtocolLabel(label: string): string[] {
  const out: string[] = [];
  for (const part of label.split(',')) {
    const t = part.trim();
    // Zeek writes an analyzer that confirmed and later failed as "-name": not a label.
    if (t === '' || t.startsWith('-') || t === '(empty)') continue;
    const name = canonicalProtocol(t);
    if (name === 'unknown' || name === 'unset') continue;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The protocol a multi-protocol label is counted under (see {@link CARRIED_PROTOCOLS}). */
export function primaryProtocol(labels: readonly string[]): string | undefined {
  const outer = labels.find((l) => !CARRIED_PROTOCOLS.includes(l));
  if (outer !== undefined) return outer;
  let best: string | undefined;
  for (const l of labels) if (best === undefined || CARRIED_PROTOCOLS.indexOf(l) > CARRIED_PROTOCOLS.indexOf(best)) best = l;
  return best;
}
