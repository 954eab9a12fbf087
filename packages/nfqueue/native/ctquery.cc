// Conntrack lookups over ctnetlink: one entry's reply tuple by its original
// tuple (synchronous, for a source-NATing edge learning a new flow's
// external tuple), and a full dump of the table with counters (a pool
// thread), for accounting long-lived connections.
//
// Both only ever send IPCTNL_MSG_CT_GET. Never IPCTNL_MSG_CT_GET_CTRZERO:
// that one zeroes the counters it reports, and the edge's connbytes queue
// rule reads those same counters (a zeroed connection would be queued
// again from its first packet on).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common.h"
#include "ctnetlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace l7nfq {

namespace {

constexpr int kQueryTimeoutSeconds = 2;   // a lookup answers in microseconds; never wait forever
constexpr int kDumpTimeoutSeconds = 10;   // between two chunks of a dump
constexpr size_t kDumpRecvBytes = 64 * 1024;  // > the kernel's largest dump chunk (32 KiB)

// Opens a ctnetlink socket in the calling thread's network namespace.
// Returns nullptr with errno set on failure.
struct mnl_socket* OpenCtSocket(int timeoutSeconds) {
  struct mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl == nullptr) return nullptr;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl);
    errno = e;
    return nullptr;
  }
  const int fd = mnl_socket_get_fd(nl);
  struct timeval tv = {timeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);  // short error messages (best effort)
  return nl;
}

// The lookup socket: one per JS thread (= per environment), opened at the
// first lookup, so in the namespace the thread was in then (like
// setConntrackMark's). Closed at environment teardown.
struct QuerySocket {
  struct mnl_socket* nl = nullptr;
  uint32_t seq = 0;
};
thread_local QuerySocket* tlsQuery = nullptr;

void CloseQuerySocket(void* arg) {
  auto* q = static_cast<QuerySocket*>(arg);
  if (q->nl != nullptr) mnl_socket_close(q->nl);
  if (tlsQuery == q) tlsQuery = nullptr;
  delete q;
}

QuerySocket* QuerySocketFor(Napi::Env env, const std::string& what) {
  if (tlsQuery != nullptr) return tlsQuery;
  struct mnl_socket* nl = OpenCtSocket(kQueryTimeoutSeconds);
  if (nl == nullptr) {
    const int e = errno;
    Fail(env, "CT_SOCKET", "conntrackReply: " + what + ": ctnetlink socket: " + ErrnoText(e), {e});
  }
  auto* q = new QuerySocket();
  q->nl = nl;
  napi_add_env_cleanup_hook(env, CloseQuerySocket, q);
  tlsQuery = q;
  return q;
}

bool SameOriginal(const CtRecord& r, const CtTuple& t) {
  const size_t alen = t.family == AF_INET6 ? 16 : 4;
  return r.family == t.family && r.proto == t.proto && memcmp(r.origSrc, t.src, alen) == 0 &&
         memcmp(r.origDst, t.dst, alen) == 0 && r.origSport == t.sport && r.origDport == t.dport;
}

Napi::Object ReplyTupleToJs(Napi::Env env, const CtRecord& r) {
  const bool v6 = r.family == AF_INET6;
  std::string src, dst;
  AppendAddress(src, r.replSrc, v6);
  AppendAddress(dst, r.replDst, v6);
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", Napi::Number::New(env, v6 ? 6 : 4));
  o.Set("protocol", Napi::Number::New(env, r.proto));
  o.Set("src", Napi::String::New(env, src));
  o.Set("dst", Napi::String::New(env, dst));
  o.Set("sport", Napi::Number::New(env, r.replSport));
  o.Set("dport", Napi::Number::New(env, r.replDport));
  if (r.hasZone) o.Set("zone", Napi::Number::New(env, r.zone));
  return o;
}

}  // namespace

// conntrackReply(tuple) -> reply tuple | undefined
//
// IPCTNL_MSG_CT_GET with the tuple as CTA_TUPLE_ORIG. The kernel's lookup
// matches either direction of an entry (its hash holds both tuples), so an
// entry whose REPLY tuple equals the query comes back too; that is not an
// entry with this original tuple, and answers undefined like ENOENT. (A
// caller that wants it asks again with the tuple reversed, as the NAT
// translator does.)
static Napi::Value ConntrackReply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CtTuple t = ReadCtTuple(env, info[0], "conntrackReply: tuple");
  const std::string what = DescribeCtTuple(t);
  QuerySocket* q = QuerySocketFor(env, what);

  char tx[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(tx);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  nlh->nlmsg_flags = NLM_F_REQUEST;  // the entry comes back, or an error; no ack on success
  nlh->nlmsg_seq = ++q->seq;
  if (q->seq == 0) nlh->nlmsg_seq = ++q->seq;
  auto* nfg = static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
  nfg->nfgen_family = t.family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  std::unique_ptr<struct nf_conntrack, void (*)(struct nf_conntrack*)> ct(nfct_new(), nfct_destroy);
  if (!ct) Fail(env, "CT_QUERY", "conntrackReply: " + what + ": out of memory", {ENOMEM});
  SetOriginalTuple(ct.get(), t);
  if (nfct_nlmsg_build(nlh, ct.get()) < 0) {
    const int e = errno;
    Fail(env, "CT_QUERY", "conntrackReply: " + what + ": building the request failed: " + ErrnoText(e), {e});
  }
  if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
    const int e = errno;
    Fail(env, "CT_QUERY", "conntrackReply: " + what + ": sendto failed: " + ErrnoText(e), {e});
  }
  const uint32_t seq = nlh->nlmsg_seq;
  char rx[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(q->nl, rx, sizeof rx);
    if (n < 0) {
      const int e = errno;
      if (e == EINTR) continue;
      const bool timeout = e == EAGAIN || e == EWOULDBLOCK;
      Fail(env, "CT_QUERY",
           "conntrackReply: " + what + ": " +
               (timeout ? "no answer from the kernel within " + std::to_string(kQueryTimeoutSeconds) + " s"
                        : "recv failed: " + ErrnoText(e)),
           {timeout ? ETIMEDOUT : e});
    }
    const auto* m = reinterpret_cast<const struct nlmsghdr*>(rx);
    int rem = static_cast<int>(n);
    for (; mnl_nlmsg_ok(m, rem); m = mnl_nlmsg_next(m, &rem)) {
      if (m->nlmsg_seq != seq) continue;  // a late answer to an earlier lookup that timed out
      if (m->nlmsg_type == NLMSG_ERROR) {
        if (m->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) continue;
        const int err = -static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(m))->error;
        if (err == 0) continue;  // an ack; the entry is what we wait for
        if (err == ENOENT) return env.Undefined();
        const std::string hint = err == EPERM ? " (needs CAP_NET_ADMIN)" : "";
        Fail(env, "CT_QUERY", "conntrackReply: " + what + ": the kernel answered " + ErrnoText(err) + hint, {err});
      }
      CtRecord r;
      if (!ParseCtRecord(m, &r)) {
        Fail(env, "CT_QUERY", "conntrackReply: " + what + ": cannot parse the kernel's answer", {EPROTO});
      }
      if (!SameOriginal(r, t)) return env.Undefined();
      return ReplyTupleToJs(env, r);
    }
  }
}

namespace {

// conntrackDump: the whole table (or one family), read and parsed on a
// libuv pool thread. The socket is opened on the caller's thread, so the
// dump reads the caller's namespace.
class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, uint8_t family, CtProtocolFilter filter)
      : Napi::AsyncWorker(env, "l7nfq:conntrackDump"),
        deferred_(Napi::Promise::Deferred::New(env)),
        family_(family),
        filter_(filter) {
    nl_ = OpenCtSocket(kDumpTimeoutSeconds);
    if (nl_ == nullptr) SetFailure(errno, "ctnetlink socket");
  }
  ~DumpWorker() override {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (err_ != 0) return;
    std::vector<char> tx(MNL_SOCKET_BUFFER_SIZE);
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(tx.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;  // never _CTRZERO
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = 1;
    auto* nfg = static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
    nfg->nfgen_family = family_;  // AF_UNSPEC: every family
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
      SetFailure(errno, "sendto");
      return;
    }
    std::vector<char> rx(kDumpRecvBytes);
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl_, rx.data(), rx.size());
      if (n < 0) {
        const int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
          SetFailure(ETIMEDOUT, "no answer from the kernel within " + std::to_string(kDumpTimeoutSeconds) + " s");
        } else {
          SetFailure(e, "recv");
        }
        return;
      }
      const auto* m = reinterpret_cast<const struct nlmsghdr*>(rx.data());
      int rem = static_cast<int>(n);
      for (; mnl_nlmsg_ok(m, rem); m = mnl_nlmsg_next(m, &rem)) {
        if (m->nlmsg_seq != 1) continue;
        if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
        if (m->nlmsg_type == NLMSG_DONE) {
          // A dump that failed midway carries its errno here.
          if (mnl_nlmsg_get_payload_len(m) >= sizeof(int)) {
            int e;
            memcpy(&e, mnl_nlmsg_get_payload(m), sizeof e);
            if (e < 0) SetFailure(-e, "the dump failed midway");
          }
          return;
        }
        if (m->nlmsg_type == NLMSG_ERROR) {
          if (m->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) continue;
          const int e = -static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(m))->error;
          if (e == 0) continue;
          SetFailure(e, e == EPERM ? "the kernel refused the dump (needs CAP_NET_ADMIN)" : "the kernel refused the dump");
          return;
        }
        if (m->nlmsg_type == NLMSG_NOOP || m->nlmsg_type == NLMSG_OVERRUN) continue;
        CtRecord r;
        if (!ParseCtRecord(m, &r)) {
          unparsed_++;
          continue;
        }
        if (!filter_.Allows(r.proto)) continue;
        cols_.Append(r);
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (err_ != 0) {
        deferred_.Reject(MakeError(env, "CT_DUMP", "conntrackDump: " + what_ + ": " + ErrnoText(err_), {err_}));
        return;
      }
      Napi::Object out = cols_.ToJs(env);
      out.Set("interrupted", Napi::Boolean::New(env, interrupted_));
      out.Set("unparsed", Napi::Number::New(env, static_cast<double>(unparsed_)));
      deferred_.Resolve(out);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  void SetFailure(int err, std::string what) {
    if (err_ != 0) return;
    err_ = err != 0 ? err : EIO;
    what_ = std::move(what);
  }

  Napi::Promise::Deferred deferred_;
  const uint8_t family_;
  const CtProtocolFilter filter_;
  struct mnl_socket* nl_ = nullptr;
  int err_ = 0;
  std::string what_;
  bool interrupted_ = false;
  size_t unparsed_ = 0;
  CtColumns cols_;
};

}  // namespace

// conntrackDump(family: 0 | 4 | 6, protocols?: number[]) -> Promise<{ count, nums, addrs, offsets, interrupted, unparsed }>
static Napi::Value ConntrackDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t fam = ReadU32(env, info[0], "conntrackDump: family", 0, 6);
  if (fam != 0 && fam != 4 && fam != 6) Fail(env, "NFQ_INVALID_ARGUMENT", "conntrackDump: family must be 4, 6 or 0 (both)");
  const CtProtocolFilter filter = ReadCtProtocols(env, info[1], "conntrackDump: protocols");
  auto* worker = new DumpWorker(env, fam == 0 ? AF_UNSPEC : fam == 4 ? AF_INET : AF_INET6, filter);
  Napi::Promise p = worker->Promise();
  worker->Queue();  // deletes itself when done
  return p;
}

void InitConntrackQuery(Napi::Env env, Napi::Object exports) {
  exports.Set("conntrackReply", Napi::Function::New<ConntrackReply>(env, "conntrackReply"));
  exports.Set("conntrackDump", Napi::Function::New<ConntrackDump>(env, "conntrackDump"));
}

}  // namespace l7nfq
