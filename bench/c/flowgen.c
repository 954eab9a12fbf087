/*
 * flowgen: the edge benchmark's traffic. Sends many new UDP flows through
 * a router from one raw socket (IP_HDRINCL, sendmmsg batches), so one
 * process can open tens of thousands of flows a second without a socket
 * per source port.
 *
 *   flowgen -d DST -s SRC_NET [-S SRC_COUNT] [-t SECONDS] [-p PPS] [-f FLOWS]
 *           [-o FIRST_FLOW] [-D SPACING] [-P PACKETS] [-N NOISE_PACKETS]
 *
 * All addresses must lie in 198.18.0.0/15 (the benchmarking range).
 * Flow i (counted from FIRST_FLOW, so runs can use disjoint tuples) comes
 * from SRC_NET + i % SRC_COUNT, source port 10000 + (i / SRC_COUNT) % 50000,
 * to DST. Of every 10 flows:
 *   5 dns   to port 53: PACKETS copies of a standard query (www.example.com A);
 *   3 http  to port 80: PACKETS copies of "GET /index.html HTTP/1.1 ...";
 *   2 noise to port 7777: NOISE_PACKETS packets of bytes >= 0x80 that no
 *           pattern matches (an l7 edge calls them unknown on packet N+1).
 * Packet j of a flow (j = 0, 1, ...) carries IP ID j + 1, so a capture can
 * tell the packets of a flow apart. Packets of one flow are SPACING flow
 * starts apart (default 1000): flows interleave as on a real link, and a
 * verdict reached on a flow's first packet can be in place before its
 * second arrives.
 *
 * Stops after SECONDS (default 5) or after FLOWS flows have started and
 * finished; PPS 0 (default) sends as fast as the socket takes packets.
 * Prints one JSON object: packets and flows sent, seconds, errors.
 *
 * Build: cc -O2 -o flowgen flowgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define VLEN 64
#define PKT_MAX 512

static const unsigned char DNS_QUERY[] = {
    0x00, 0x00,                                            /* id (filled in) */
    0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* RD, QDCOUNT 1 */
    0x03, 'w', 'w', 'w', 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x03, 'c', 'o', 'm', 0x00,
    0x00, 0x01, 0x00, 0x01};
static const char HTTP_GET[] = "GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: flowgen\r\nAccept: */*\r\n\r\n";

enum { DNS, HTTP, NOISE };

static int kind_of(uint64_t i) {
  unsigned r = (unsigned)(i % 10);
  return r < 5 ? DNS : r < 8 ? HTTP : NOISE;
}

/* Writes packet j of flow i into buf; returns its length. */
static size_t build(unsigned char *buf, uint64_t i, unsigned j, uint32_t src_net, unsigned src_count, uint32_t dst) {
  struct iphdr *ip = (struct iphdr *)buf;
  struct udphdr *udp = (struct udphdr *)(buf + sizeof *ip);
  unsigned char *payload = buf + sizeof *ip + sizeof *udp;
  int kind = kind_of(i);
  size_t plen;
  uint16_t dport;
  if (kind == DNS) {
    memcpy(payload, DNS_QUERY, sizeof DNS_QUERY);
    /* An id of letters: no NUL (dropped by l7 semantics), and not the
       bytes other binary patterns key on (openvpn's 0x38 ... 0x40). */
    payload[0] = (unsigned char)(0x41 + i % 26);
    payload[1] = (unsigned char)(0x61 + (i / 26) % 26);
    plen = sizeof DNS_QUERY;
    dport = 53;
  } else if (kind == HTTP) {
    plen = sizeof HTTP_GET - 1;
    memcpy(payload, HTTP_GET, plen);
    dport = 80;
  } else {
    plen = 64 + (size_t)((i * 7 + j * 13) % 128);
    uint32_t x = (uint32_t)(i * 2654435761u) ^ (j * 40503u) ^ 0x9e3779b9u;
    for (size_t k = 0; k < plen; k++) {
      x = x * 1103515245u + 12345u;
      payload[k] = (unsigned char)(0x80 | ((x >> 16) & 0x7f));
    }
    dport = 7777;
  }
  memset(ip, 0, sizeof *ip);
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->id = htons((uint16_t)(j + 1));
  ip->saddr = htonl(src_net + (uint32_t)(i % src_count));
  ip->daddr = dst;
  ip->tot_len = htons((uint16_t)(sizeof *ip + sizeof *udp + plen)); /* the kernel fills in the checksum */
  udp->source = htons((uint16_t)(10000 + (i / src_count) % 50000));
  udp->dest = htons(dport);
  udp->len = htons((uint16_t)(sizeof *udp + plen));
  udp->check = 0; /* no UDP checksum (allowed over IPv4) */
  return sizeof *ip + sizeof *udp + plen;
}

int main(int argc, char **argv) {
  const char *dst_text = NULL, *src_text = NULL;
  unsigned src_count = 1024, packets = 2, noise_packets = 12;
  uint64_t first_flow = 0, max_flows = 0, spacing = 1000;
  double seconds = 5, pps = 0;
  int opt;
  while ((opt = getopt(argc, argv, "d:s:S:t:p:f:o:D:P:N:")) != -1) {
    switch (opt) {
      case 'd': dst_text = optarg; break;
      case 's': src_text = optarg; break;
      case 'S': src_count = (unsigned)strtoul(optarg, NULL, 10); break;
      case 't': seconds = strtod(optarg, NULL); break;
      case 'p': pps = strtod(optarg, NULL); break;
      case 'f': max_flows = strtoull(optarg, NULL, 10); break;
      case 'o': first_flow = strtoull(optarg, NULL, 10); break;
      case 'D': spacing = strtoull(optarg, NULL, 10); break;
      case 'P': packets = (unsigned)strtoul(optarg, NULL, 10); break;
      case 'N': noise_packets = (unsigned)strtoul(optarg, NULL, 10); break;
      default:
        fprintf(stderr, "usage: %s -d DST -s SRC_NET [-S SRC_COUNT] [-t SECONDS] [-p PPS] [-f FLOWS] [-o FIRST] [-D SPACING] [-P PACKETS] [-N NOISE]\n", argv[0]);
        return 2;
    }
  }
  struct in_addr dst, src;
  if (dst_text == NULL || src_text == NULL || inet_pton(AF_INET, dst_text, &dst) != 1 || inet_pton(AF_INET, src_text, &src) != 1 ||
      src_count < 1 || packets < 1 || noise_packets < 1 || spacing < 1 || packets > 64 || noise_packets > 64) {
    fprintf(stderr, "flowgen: bad arguments\n");
    return 2;
  }
  const uint32_t src_net = ntohl(src.s_addr);
  /* A benchmark tool that writes its own source addresses: keep it inside
     the benchmarking range 198.18.0.0/15 (RFC 2544). */
  const uint32_t bench_net = 0xc6120000u, bench_mask = 0xfffe0000u;
  if ((ntohl(dst.s_addr) & bench_mask) != bench_net || (src_net & bench_mask) != bench_net ||
      ((src_net + src_count - 1) & bench_mask) != bench_net) {
    fprintf(stderr, "flowgen: addresses must lie in 198.18.0.0/15\n");
    return 2;
  }
  const unsigned max_packets = packets > noise_packets ? packets : noise_packets;

  stop_on_signals();

  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IPPROTO_RAW implies IP_HDRINCL */
  if (fd < 0) {
    fprintf(stderr, "flowgen: raw socket: %s\n", strerror(errno));
    return 1;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

  static unsigned char bufs[VLEN][PKT_MAX];
  struct mmsghdr msgs[VLEN];
  struct iovec iovs[VLEN];
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dst};
  memset(msgs, 0, sizeof msgs);
  for (int k = 0; k < VLEN; k++) {
    iovs[k].iov_base = bufs[k];
    msgs[k].msg_hdr.msg_name = &to;
    msgs[k].msg_hdr.msg_namelen = sizeof to;
    msgs[k].msg_hdr.msg_iov = &iovs[k];
    msgs[k].msg_hdr.msg_iovlen = 1;
  }
  /* Paced runs send small bursts so that packets are spread in time. */
  unsigned burst = VLEN;
  if (pps > 0) {
    burst = (unsigned)(pps / 20000);
    if (burst < 1) burst = 1;
    if (burst > VLEN) burst = VLEN;
  }

  uint64_t sent = 0, errors = 0, flows = 0;
  uint64_t slot = 0; /* flow starts so far; packet j of flow i goes out in slot i + j * spacing */
  const uint64_t last_slot = max_flows > 0 ? max_flows + (uint64_t)(max_packets - 1) * spacing : UINT64_MAX;
  unsigned j = 0;   /* position within the slot */
  int n = 0;
  const double t0 = now_mono();
  double t = t0;
  while (!stop_requested && slot < last_slot) {
    /* Fill a burst with the next packets of the schedule. */
    while (n < (int)burst && slot < last_slot) {
      if (j >= max_packets) {
        j = 0;
        slot++;
        continue;
      }
      unsigned jj = j++;
      if ((uint64_t)jj * spacing > slot) continue;
      uint64_t idx = slot - (uint64_t)jj * spacing;
      if (max_flows > 0 && idx >= max_flows) continue;
      uint64_t i = first_flow + idx;
      unsigned want = kind_of(i) == NOISE ? noise_packets : packets;
      if (jj >= want) continue;
      if (jj == 0) flows++;
      iovs[n].iov_len = build(bufs[n], i, jj, src_net, src_count, dst.s_addr);
      n++;
    }
    if (n == 0) break;
    int done = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      errors++;
      done = 1; /* skip the packet the kernel refused */
    }
    sent += (uint64_t)done;
    /* Keep what was not sent: shift it to the front of the burst. */
    for (int k = done; k < n; k++) {
      memcpy(bufs[k - done], bufs[k], iovs[k].iov_len);
      iovs[k - done].iov_len = iovs[k].iov_len;
    }
    n -= done;
    t = now_mono();
    if (t - t0 >= seconds) break;
    if (pps > 0) {
      double ahead = (double)sent / pps - (t - t0);
      if (ahead > 0) {
        struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
        nanosleep(&ts, NULL);
      }
    }
  }
  t = now_mono();
  /* Flows from first_flow + next on have not started: the next run may use them. */
  uint64_t next = slot + 1;
  if (max_flows > 0 && next > max_flows) next = max_flows;
  printf("{\"packets\":%llu,\"flows\":%llu,\"seconds\":%.6f,\"pps\":%.1f,\"errors\":%llu,\"first_flow\":%llu,\"next_flow\":%llu}\n",
         (unsigned long long)sent, (unsigned long long)flows, t - t0, (double)sent / (t - t0), (unsigned long long)errors,
         (unsigned long long)first_flow, (unsigned long long)(first_flow + next));
  close(fd);
  return 0;
}
