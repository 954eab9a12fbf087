/*
 * nfq_accept: the baseline of the edge benchmark. Binds one NFQUEUE and
 * ACCEPTs every packet as fast as it can, doing nothing else with it.
 *
 *   nfq_accept -q QUEUE [-n PACKETS] [-t SECONDS] [-i IDLE_SECONDS]
 *              [-v batch|each] [-c COPY_RANGE] [-l MAXLEN] [-b VLEN]
 *
 * Reads with recvmmsg() (up to VLEN datagrams per call, default 64; one
 * datagram is one queued packet), then sends the verdicts of everything it
 * read in one sendto():
 *   -v batch  one NFQNL_MSG_VERDICT_BATCH (ACCEPT every id <= the highest
 *             id read) per read: the least work a consumer can do;
 *   -v each   one NFQNL_MSG_VERDICT per packet, all in one sendto(): what
 *             the edge sends (a verdict, and maybe a mark, per packet).
 * The queue is configured like the edge's (@l7mesh/nfqueue defaults):
 * copy the whole packet (COPY_RANGE 65535), FAIL_OPEN and GSO, queue
 * MAXLEN 4096, an 8 MiB receive buffer (SO_RCVBUFFORCE).
 *
 * Exits after PACKETS packets, after SECONDS, after IDLE_SECONDS without a
 * packet once one arrived, or on SIGINT/SIGTERM, and prints one JSON object
 * on stdout: packets, bytes, seconds (first to last packet), CPU time of the
 * process (getrusage) and its share per packet. "ready" goes to stderr once
 * the queue is bound.
 *
 * Build: cc -O2 -o nfq_accept nfq_accept.c $(pkg-config --cflags --libs libnetfilter_queue libmnl)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define MAX_VLEN 256
#define SLOT (65535 + 4096)
#define MSG_BUF 16384

static double now_real(void) { return clock_seconds(CLOCK_REALTIME); }

static void die(const char *what) {
  fprintf(stderr, "nfq_accept: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Sends one config message and waits for its ACK. */
static void config_request(struct mnl_socket *nl, struct nlmsghdr *nlh, const char *what) {
  static char buf[MSG_BUF];
  unsigned portid = mnl_socket_get_portid(nl);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = (uint32_t)time(NULL);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) die(what);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) die(what);
    int rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL, NULL);
    if (rc == MNL_CB_ERROR) die(what);
    if (rc == MNL_CB_STOP) return;
  }
}

int main(int argc, char **argv) {
  long queue = -1, max_packets = 0, copy_range = 65535, maxlen = 4096, vlen = 64;
  double max_seconds = 0, idle_seconds = 0;
  int each = 0;
  int opt;
  while ((opt = getopt(argc, argv, "q:n:t:i:v:c:l:b:")) != -1) {
    switch (opt) {
      case 'q': queue = strtol(optarg, NULL, 10); break;
      case 'n': max_packets = strtol(optarg, NULL, 10); break;
      case 't': max_seconds = strtod(optarg, NULL); break;
      case 'i': idle_seconds = strtod(optarg, NULL); break;
      case 'v': each = strcmp(optarg, "each") == 0; break;
      case 'c': copy_range = strtol(optarg, NULL, 10); break;
      case 'l': maxlen = strtol(optarg, NULL, 10); break;
      case 'b': vlen = strtol(optarg, NULL, 10); break;
      default:
        fprintf(stderr, "usage: %s -q QUEUE [-n PACKETS] [-t SECONDS] [-i IDLE] [-v batch|each] [-c COPY] [-l MAXLEN] [-b VLEN]\n", argv[0]);
        return 2;
    }
  }
  if (queue < 0 || queue > 65535 || vlen < 1 || vlen > MAX_VLEN || copy_range < 1 || copy_range > 65535) {
    fprintf(stderr, "nfq_accept: bad arguments (need -q 0..65535, -b 1..%d, -c 1..65535)\n", MAX_VLEN);
    return 2;
  }

  stop_on_signals();

  struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == NULL) die("mnl_socket_open");
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) die("mnl_socket_bind");
  int fd = mnl_socket_get_fd(nl);
  int rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  static char cfg[MSG_BUF];
  struct nlmsghdr *nlh = nfq_nlmsg_put(cfg, NFQNL_MSG_CONFIG, (uint32_t)queue);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
  config_request(nl, nlh, "bind the queue (another process bound to it? CAP_NET_ADMIN?)");
  nlh = nfq_nlmsg_put(cfg, NFQNL_MSG_CONFIG, (uint32_t)queue);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)copy_range);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, (uint32_t)maxlen);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  config_request(nl, nlh, "configure the queue");

  /* A receive timeout lets the loop notice signals and time limits. */
  struct timeval tv = {0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  char *rx = malloc((size_t)SLOT * (size_t)vlen);
  char *tx = malloc((size_t)MSG_BUF + (size_t)vlen * 64);
  if (rx == NULL || tx == NULL) die("malloc");
  struct mmsghdr msgs[MAX_VLEN];
  struct iovec iovs[MAX_VLEN];
  struct sockaddr_nl peers[MAX_VLEN];
  struct nlattr *attr[NFQA_MAX + 1];

  uint64_t packets = 0, bytes = 0, recv_calls = 0, verdict_sends = 0, enobufs = 0, errors = 0, truncated = 0, parse_errors = 0;
  double started = now_mono(), first = 0, last = 0, first_real = 0, last_real = 0;
  fprintf(stderr, "ready\n");

  while (!stop_requested) {
    double t = now_mono();
    if (max_seconds > 0 && t - started >= max_seconds) break;
    if (idle_seconds > 0 && packets > 0 && t - last >= idle_seconds) break;
    if (max_packets > 0 && (long)packets >= max_packets) break;
    for (long i = 0; i < vlen; i++) {
      iovs[i].iov_base = rx + (size_t)i * SLOT;
      iovs[i].iov_len = SLOT;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    /* Blocks for the first datagram, then takes what is there, up to vlen. */
    int n = recvmmsg(fd, msgs, (unsigned)vlen, MSG_WAITFORONE, NULL);
    recv_calls++;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      if (errno == ENOBUFS) {
        enobufs++;
        continue;
      }
      die("recvmmsg");
    }
    size_t txlen = 0;
    uint32_t max_id = 0;
    int have_id = 0;
    for (int i = 0; i < n; i++) {
      if (peers[i].nl_pid != 0) continue;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) truncated++;
      const struct nlmsghdr *h = (const struct nlmsghdr *)(rx + (size_t)i * SLOT);
      int rem = (int)msgs[i].msg_len;
      while (mnl_nlmsg_ok(h, rem)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          errors++;
        } else if (NFNL_MSG_TYPE(h->nlmsg_type) == NFQNL_MSG_PACKET) {
          memset(attr, 0, sizeof attr);
          if (nfq_nlmsg_parse(h, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) {
            parse_errors++;
          } else {
            const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
            uint32_t id = ntohl(ph->packet_id);
            packets++;
            if (attr[NFQA_PAYLOAD] != NULL) bytes += mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
            if (!have_id || (int32_t)(id - max_id) > 0) max_id = id;
            have_id = 1;
            if (each) {
              struct nlmsghdr *v = nfq_nlmsg_put(tx + txlen, NFQNL_MSG_VERDICT, (uint32_t)queue);
              nfq_nlmsg_verdict_put(v, (int)id, NF_ACCEPT);
              txlen += v->nlmsg_len;
            }
          }
        }
        h = mnl_nlmsg_next(h, &rem);
      }
    }
    if (!have_id) continue;
    if (!each) {
      struct nlmsghdr *v = nfq_nlmsg_put(tx, NFQNL_MSG_VERDICT_BATCH, (uint32_t)queue);
      nfq_nlmsg_verdict_put(v, (int)max_id, NF_ACCEPT);
      txlen = v->nlmsg_len;
    }
    if (mnl_socket_sendto(nl, tx, txlen) < 0) errors++;
    verdict_sends++;
    last = now_mono();
    last_real = now_real();
    if (first == 0) {
      first = last;
      first_real = last_real;
    }
  }

  /* Accept what is still queued: closing the socket unbinds the queue, and
     the kernel drops the packets an unbound queue still held. */
  for (int round = 0; round < 64; round++) {
    int n = recvmmsg(fd, msgs, (unsigned)vlen, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    uint32_t max_id = 0;
    int have_id = 0;
    for (int i = 0; i < n; i++) {
      const struct nlmsghdr *h = (const struct nlmsghdr *)(rx + (size_t)i * SLOT);
      if (peers[i].nl_pid != 0 || NFNL_MSG_TYPE(h->nlmsg_type) != NFQNL_MSG_PACKET) continue;
      memset(attr, 0, sizeof attr);
      if (nfq_nlmsg_parse(h, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) continue;
      const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
      uint32_t id = ntohl(ph->packet_id);
      if (!have_id || (int32_t)(id - max_id) > 0) max_id = id;
      have_id = 1;
    }
    if (have_id) {
      struct nlmsghdr *v = nfq_nlmsg_put(tx, NFQNL_MSG_VERDICT_BATCH, (uint32_t)queue);
      nfq_nlmsg_verdict_put(v, (int)max_id, NF_ACCEPT);
      mnl_socket_sendto(nl, tx, v->nlmsg_len);
    }
  }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  double sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("{\"queue\":%ld,\"verdict\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"first_packet\":%.6f,\"last_packet\":%.6f,"
         "\"cpu_user\":%.6f,\"cpu_sys\":%.6f,\"cpu_us_per_packet\":%.4f,\"recv_calls\":%llu,\"verdict_sends\":%llu,"
         "\"enobufs\":%llu,\"errors\":%llu,\"truncated\":%llu,\"parse_errors\":%llu}\n",
         queue, each ? "each" : "batch", (unsigned long long)packets, (unsigned long long)bytes, last - first, first_real, last_real, user, sys,
         packets > 0 ? (user + sys) * 1e6 / (double)packets : 0.0, (unsigned long long)recv_calls, (unsigned long long)verdict_sends,
         (unsigned long long)enobufs, (unsigned long long)errors, (unsigned long long)truncated, (unsigned long long)parse_errors);
  fflush(stdout);
  mnl_socket_close(nl);
  return 0;
}
