// CommitWatch (see commitwatch.h).
//
// Every nf_tables commit bumps the ruleset generation and, when someone is
// subscribed, announces each change it made (NEWSETELEM, DELSET, ...) and
// then the new generation (NEWGEN), all stamped with that generation in
// nfgenmsg.res_id, before the committing call returns. So once NEWGEN of
// generation G has been read, every change of every commit up to G has been
// read too.
#include "commitwatch.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace l7nfq {

namespace {

// Newer than the uapi headers of Debian 12 (kernel 6.3+); kernel ABI numbers.
constexpr uint16_t kMsgDestroyTable = 26;
constexpr uint16_t kMsgDestroySet = 29;
constexpr uint16_t kMsgDestroySetElem = 30;

// Big enough that a burst of element notifications (one per element of a
// bulk add) between two reads is not dropped; dropping only costs a redo.
constexpr int kRcvBufBytes = 4 << 20;

// Attributes 1 and 2 of set and set-element messages: table and set name
// (NFTA_SET_TABLE/NFTA_SET_NAME, NFTA_SET_ELEM_LIST_TABLE/NFTA_SET_ELEM_LIST_SET,
// both numbered 1 and 2); of table messages, 1 is the table name.
struct Names {
  const char* table = nullptr;
  const char* set = nullptr;
};

int NamesCb(const struct nlattr* attr, void* data) {
  auto* names = static_cast<Names*>(data);
  const uint16_t type = mnl_attr_get_type(attr);
  if ((type == 1 || type == 2) && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
    (type == 1 ? names->table : names->set) = mnl_attr_get_str(attr);
  }
  return MNL_CB_OK;
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

CommitWatch::CommitWatch(std::string table, std::string set, uint8_t family)
    : table_(std::move(table)), set_(std::move(set)), family_(family), buf_(64 * 1024) {}

CommitWatch::~CommitWatch() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

bool CommitWatch::Open() {
  nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl_ == nullptr) return false;
  if (mnl_socket_bind(nl_, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return false;
  }
  const int fd = mnl_socket_get_fd(nl_);
  int size = kRcvBufBytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return true;
}

void CommitWatch::Reset() {
  Poll();
  lost_ = false;
  anyGen_ = false;
  touchedGens_.clear();
}

void CommitWatch::Poll() { Read(false, 0); }

void CommitWatch::Read(bool wait, int waitMs) {
  if (nl_ == nullptr) return;
  const int fd = mnl_socket_get_fd(nl_);
  if (wait) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, waitMs) <= 0) return;
  }
  for (;;) {
    const ssize_t n = recv(fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        lost_ = true;  // the kernel dropped notifications; the socket keeps working
        continue;
      }
      return;  // EAGAIN: nothing more queued
    }
    const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(buf_.data());
    int rem = static_cast<int>(n);
    for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) OnMessage(nlh);
  }
}

void CommitWatch::OnMessage(const void* msg) {
  const auto* nlh = static_cast<const struct nlmsghdr*>(msg);
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg)) return;
  const auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  const uint16_t gen = ntohs(nfg->res_id);
  const uint16_t type = nlh->nlmsg_type & 0xff;
  if (type == NFT_MSG_NEWGEN) {
    lastGen_ = gen;
    anyGen_ = true;
    return;
  }
  const bool setMsg = type == NFT_MSG_NEWSETELEM || type == NFT_MSG_DELSETELEM || type == kMsgDestroySetElem ||
                      type == NFT_MSG_NEWSET || type == NFT_MSG_DELSET || type == kMsgDestroySet;
  const bool tableMsg = type == NFT_MSG_DELTABLE || type == kMsgDestroyTable;
  if ((!setMsg && !tableMsg) || nfg->nfgen_family != family_) return;
  Names names;
  mnl_attr_parse(nlh, sizeof(struct nfgenmsg), NamesCb, &names);
  if (names.table == nullptr || table_ != names.table) return;
  if (setMsg && (names.set == nullptr || set_ != names.set)) return;
  if (touchedGens_.empty() || touchedGens_.back() != gen) touchedGens_.push_back(gen);
}

// Generations are 16-bit and wrap: `to` is `from + span`, and a generation g
// lies in (from, to] when 0 < g - from <= span (mod 2^16). Half the space
// ahead of `from` counts as "later", the rest as "earlier".
bool CommitWatch::Announced(uint16_t from, uint16_t to) const {
  if (!anyGen_) return false;
  const uint16_t span = static_cast<uint16_t>(to - from);
  const uint16_t ahead = static_cast<uint16_t>(lastGen_ - from);
  return ahead >= span && ahead < 0x8000;
}

bool CommitWatch::Touched(uint16_t from, uint16_t to, int waitMs) {
  const uint16_t span = static_cast<uint16_t>(to - from);
  if (span == 0) return false;  // no commit in between
  if (nl_ == nullptr) return true;
  Poll();
  const int64_t deadline = NowMs() + waitMs;
  while (!lost_ && !Announced(from, to)) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) return true;
    Read(true, static_cast<int>(left));
  }
  if (lost_) return true;
  for (const uint16_t g : touchedGens_) {
    const uint16_t d = static_cast<uint16_t>(g - from);
    if (d >= 1 && d <= span) return true;
  }
  return false;
}

}  // namespace l7nfq
