/**
 * The hosts of the edge's router test (live.netns.test.ts): the client and
 * server addresses, the servers' configurations and the client programs
 * (scripts run inside the namespaces), and the build the edge runs from.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mtimeMs, newestMtimeMs } from '@l7mesh/netns';

export const repo = fileURLToPath(new URL('../../../', import.meta.url));
export const CLIENT = '198.18.70.2';
export const SERVER = '198.18.71.2';

/** HTTP on :8080 (`/` small, `/big` 1 MiB) and TCP echo on :5001; prints "ready". */
export const SERVER_JS = `
const http = require('node:http'), net = require('node:net');
const big = Buffer.alloc(1 << 20, 'x');
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
http.createServer((req, res) => {
  const body = req.url === '/big' ? big : Buffer.from('hello from the server\\n');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(8080, '${SERVER}', ready);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(5001, '${SERVER}', ready);
setTimeout(() => process.exit(0), 120000);
`;

export const FTP_FILE = 'l7mesh edge lab: a small file fetched over an FTP data connection\n';

/** vsftpd on `address`, anonymous and read-only, passive data ports 30000-30009; its files under dir. */
export function vsftpdConfig(dir: string, address = SERVER): string {
  mkdirSync(join(dir, 'root'), { recursive: true });
  mkdirSync(join(dir, 'empty'));
  writeFileSync(join(dir, 'root/hello.txt'), FTP_FILE);
  return [
    'listen=YES',
    'listen_ipv6=NO',
    `listen_address=${address}`,
    'background=NO',
    'anonymous_enable=YES',
    'no_anon_password=YES',
    `anon_root=${dir}/root`,
    'local_enable=NO',
    'write_enable=NO',
    `secure_chroot_dir=${dir}/empty`,
    'pasv_enable=YES',
    `pasv_address=${address}`,
    'pasv_min_port=30000',
    'pasv_max_port=30009',
    'hide_ids=YES',
    // No seccomp sandbox or per-session namespaces: they fail inside containers.
    'seccomp_sandbox=NO',
    'isolate=NO',
    'isolate_network=NO',
    `vsftpd_log_file=${dir}/vsftpd.log`,
    '',
  ].join('\n');
}

/** sshd on `address`:22 with a fresh host key, public-key logins only (nobody has a key: the client gets a banner and a refusal). */
export function sshdConfig(dir: string, address = SERVER): string {
  mkdirSync(dir);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'l7mesh-edge-test', '-f', join(dir, 'host_key')]);
  return [
    `ListenAddress ${address}`,
    'AddressFamily inet',
    `HostKey ${dir}/host_key`,
    `PidFile ${dir}/sshd.pid`,
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AuthorizedKeysFile none',
    '',
  ].join('\n');
}

/**
 * An FTP session with Python's ftplib from fixed ports (control, then data):
 * login, passive RETR of hello.txt, and QUIT; with waitBeforeQuit, QUIT
 * waits for a line on stdin after printing "retrieved".
 */
export function ftpClient(controlPort: number, dataPort: number, waitBeforeQuit: boolean): string[] {
  const script = `
import ftplib, json, sys
ftp = ftplib.FTP(timeout=10, source_address=('${CLIENT}', ${controlPort}))
ftp.connect('${SERVER}', 21)
ftp.login()
ftp.source_address = ('${CLIENT}', ${dataPort})
chunks = []
ftp.retrbinary('RETR hello.txt', chunks.append)
print(json.dumps({'retrieved': b''.join(chunks).decode()}), flush=True)
if ${waitBeforeQuit ? 'True' : 'False'}:
    sys.stdin.readline()
ftp.quit()
print(json.dumps({'quit': True}), flush=True)
`;
  return ['python3', '-c', script];
}

/**
 * Sends, twice over, five TCP/UDP packets from the client to the server
 * through a raw socket, each broken in a way the IP layer lets through (the
 * kernel fills in the IP length and checksum): a truncated TCP header, TCP
 * data offsets too small and too large, a truncated UDP header, a UDP
 * length below 8.
 */
export const RAW_SENDER = `
import json, socket, struct
def ip(proto, l4):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 0, 0, 0, 64, proto, 0, socket.inet_aton('${CLIENT}'), socket.inet_aton('${SERVER}')) + l4
def tcp(doff, size):
    return (struct.pack('!HHIIBBHHH', 45100, 8080, 1, 0, doff << 4, 0x18, 1024, 0, 0) + b'x' * 64)[:size]
packets = [
    ip(6, tcp(5, 12)),
    ip(6, tcp(4, 24)),
    ip(6, tcp(15, 24)),
    ip(17, struct.pack('!HH', 45101, 53) + b'x'),
    ip(17, struct.pack('!HHHH', 45101, 53, 3, 0) + b'abcd'),
]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sent = 0
for _ in range(2):
    for p in packets:
        s.sendto(p, ('${SERVER}', 0))
        sent += 1
print(json.dumps({'sent': sent}))
`;

/** TCP client from a fixed port: waits delayMs after connecting, then `rounds` request/echo round trips. */
export function echoClient(localPort: number, rounds: number, delayMs = 0): string {
  return `
const c = require('node:net').connect({ port: 5001, host: '${SERVER}', localPort: ${localPort} });
const done = (r) => { console.log(JSON.stringify(r)); c.destroy(); process.exit(0); };
const t = setTimeout(() => done({ echoes, error: 'timeout' }), ${delayMs + 8000});
let echoes = 0, want = '';
const send = () => { want = 'zq8x ' + echoes + '\\n'; c.write(want); };
c.on('connect', () => setTimeout(send, ${delayMs}));
let got = '';
c.on('data', (d) => { got += d; if (got === want) { got = ''; if (++echoes === ${rounds}) { clearTimeout(t); done({ echoes }); } else send(); } });
c.on('error', (e) => done({ echoes, error: e.message }));
`;
}

/** The edge runs from dist/ (as `l7mesh` does): rebuild what is older than its sources. */
export function ensureBuilt(): void {
  if (mtimeMs(join(repo, 'packages/nfqueue/build/Release/l7nfq.node')) === 0) {
    execFileSync('npm', ['run', 'build', '--workspace', '@l7mesh/nfqueue'], { cwd: repo, stdio: 'pipe', timeout: 180_000 });
  }
  // tsc -b writes the build info of a project whenever it builds it (outputs only when they change).
  const stale = ['services/edge', 'services/cli', 'packages/nfqueue', 'packages/netfilter'].some(
    (dir) => mtimeMs(join(repo, dir, 'tsconfig.tsbuildinfo')) < newestMtimeMs(join(repo, dir, 'src')),
  );
  if (stale) execFileSync('npx', ['tsc', '-b', 'services/cli'], { cwd: repo, stdio: 'pipe', timeout: 180_000 });
}
