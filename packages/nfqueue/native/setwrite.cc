// nftApplyElements: adds and deletes of 5-tuple flow set elements, written
// straight to nf_tables over nfnetlink (libmnl + libnftnl), for the
// stateless edge's packet path.
//
// Why not nftRun: libnftables builds its cache and parses the script on
// every call — about 0.1-0.4 ms before the first element, then ~9 µs per
// element — which made the edge 10x slower than the bare NFQUEUE loop.
// Here a call is one sendto() of a prepared buffer and one recv().
//
// The batch: NFNL_MSG_BATCH_BEGIN, one NFT_MSG_NEWSETELEM / DELSETELEM /
// DESTROYSETELEM message per run of consecutive ops on the same set with
// the same verb (many elements each), NFNL_MSG_BATCH_END. The kernel runs
// it as one transaction: if any message fails, it aborts and nothing
// changes. A message is also cut where its element list would outgrow one
// netlink attribute (nla_len is 16 bits: ~800 to ~2000 elements).
//
// Replies: nfnetlink handles the batch inside our sendto() (the kernel
// socket's input runs in the sender's context), so when sendto() returns
// every reply is already queued on our socket, and a non-blocking drain
// reads them all. A failing message always gets an error reply carrying its
// sequence number, so no message needs NLM_F_ACK to be identified. Only
// BATCH_END asks for one: kernels >= 6.10 ack it after a successful commit,
// a positive answer that ends the read (older kernels ignore the flag; then
// the empty queue is the answer). The extended ack (NLMSGERR_ATTR_OFFS)
// names the element nf_tables refused (or the table or set attribute), so
// the error points at the op itself, not just at its message.
//
// One netlink socket per environment, opened at the first call: it acts on
// the network namespace of the thread at that time (like nftRun's context).
#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "setwrite.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace l7nfq {

namespace {

// One op as src/setWrite.ts packs it (ELEMENT_RECORD_BYTES there):
//   0 verb (kAdd/kDelete/kDestroy)   1 address length (4|16)   2 l4 protocol
//   3 flags (kHasTimeout)   4-5 set index (LE)   6-7 sport, 8-9 dport (network order)
//   10-11 zero   12-15 timeout ms (LE)   16-31 src   32-47 dst (first 4 bytes for IPv4)
constexpr size_t kRecordBytes = 48;
constexpr uint8_t kAdd = 0, kDelete = 1, kDestroy = 2;
constexpr uint8_t kHasTimeout = 1;

// Newer than the uapi headers of Debian 12 (kernel 6.3+): delete, but a
// missing element is no error.
constexpr uint16_t kMsgDestroySetElem = 30;

// A message's element list is one attribute, and nla_len is 16 bits.
constexpr size_t kMaxListBytes = 0xffff;

// Ops per call: a bound on memory (80 bytes of batch per op at most), not a
// kernel limit.
constexpr uint32_t kMaxOps = 1u << 20;

constexpr size_t kRecvBufBytes = 16 * 1024;  // one reply per recv(); errors are capped (NETLINK_CAP_ACK)

const char* FamilyName(uint8_t family) {
  switch (family) {
    case NFPROTO_INET: return "inet";
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    default: return "?";
  }
}

const char* VerbName(uint8_t verb) { return verb == kAdd ? "add" : verb == kDelete ? "delete" : "destroy"; }

uint16_t U16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t U32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// The key as the kernel stores the concatenation, every field padded to 4
// bytes: addr . proto (1 + 3) . port (2, network order, + 2) . addr . port.
size_t KeyLen(const uint8_t* rec) { return rec[1] == 16 ? 44 : 20; }

size_t BuildKey(const uint8_t* rec, uint8_t* key) {
  const size_t alen = rec[1];
  uint8_t* k = key;
  memcpy(k, rec + 16, alen);
  k += alen;
  k[0] = rec[2], k[1] = 0, k[2] = 0, k[3] = 0;
  k[4] = rec[6], k[5] = rec[7], k[6] = 0, k[7] = 0;
  k += 8;
  memcpy(k, rec + 32, alen);
  k += alen;
  k[0] = rec[8], k[1] = rec[9], k[2] = 0, k[3] = 0;
  return 2 * alen + 12;
}

// NFTA_LIST_ELEM { NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE key } [TIMEOUT EXPIRATION] }
size_t ElementBytes(const uint8_t* rec) {
  return 3 * MNL_ATTR_HDRLEN + KeyLen(rec) + ((rec[3] & kHasTimeout) ? 2 * MNL_ALIGN(MNL_ATTR_HDRLEN + 8) : 0);
}

std::string Address(const uint8_t* a, size_t len) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(len == 16 ? AF_INET6 : AF_INET, a, text, sizeof text);
  return text;
}

// "delete 198.18.0.1 . tcp . 40000 . 198.18.0.2 . 443", for error messages only.
std::string OpText(const uint8_t* rec) {
  const std::string proto = rec[2] == IPPROTO_TCP ? "tcp" : rec[2] == IPPROTO_UDP ? "udp" : std::to_string(rec[2]);
  return std::string(VerbName(rec[0])) + " " + Address(rec + 16, rec[1]) + " . " + proto + " . " +
         std::to_string(rec[6] << 8 | rec[7]) + " . " + Address(rec + 32, rec[1]) + " . " + std::to_string(rec[8] << 8 | rec[9]);
}

// One element message of the batch: ops [firstOp, firstOp + count), all on
// one set with one verb.
struct Message {
  uint32_t firstOp;
  uint32_t count;
  uint8_t verb;
  uint16_t set;
  size_t listBytes;  // its element list attribute, header included
  uint32_t tableAt = 0, setAt = 0;  // offsets of its table and set name attributes
};

// What the kernel said about one message (an NLMSG_ERROR reply).
struct Refusal {
  bool any = false;
  size_t message = 0;      // index into messages_
  int err = 0;
  int64_t attrAt = -1;     // NLMSGERR_ATTR_OFFS: offset of the refused attribute in the message
  std::string kernelText;  // NLMSGERR_ATTR_MSG
};

void ReadAck(const struct nlmsghdr* nlh, Refusal* r) {
  const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  r->err = -e->error;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  size_t off = sizeof(struct nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
  const char* base = static_cast<const char*>(mnl_nlmsg_get_payload(nlh));
  const size_t total = nlh->nlmsg_len - NLMSG_HDRLEN;
  if (off >= total) return;
  const auto* attr = reinterpret_cast<const struct nlattr*>(base + off);
  int len = static_cast<int>(total - off);
  while (mnl_attr_ok(attr, len)) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS && mnl_attr_get_payload_len(attr) >= 4) {
      r->attrAt = mnl_attr_get_u32(attr);
    } else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
      r->kernelText = mnl_attr_get_str(attr);
    }
    attr = mnl_attr_next(attr);
    len = static_cast<int>(total - (reinterpret_cast<const char*>(attr) - base));
  }
}

class ElementWriter {
 public:
  ~ElementWriter() {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }

  void Apply(Napi::Env env, const std::string& table, uint8_t family, const std::vector<std::string>& sets,
             const uint8_t* records, uint32_t count) {
    table_ = &table;
    family_ = family;
    sets_ = &sets;
    records_ = records;
    Open(env);
    Build(Plan(count));
    Send(env);
    Receive(env);
  }

 private:
  void Open(Napi::Env env) {
    if (nl_ != nullptr) return;
    struct mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (nl == nullptr) {
      const int e = errno;
      Fail(env, "NFT_WRITE", "nftApplyElements: socket(AF_NETLINK, NETLINK_NETFILTER) failed: " + ErrnoText(e), {e});
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
      const int e = errno;
      mnl_socket_close(nl);
      Fail(env, "NFT_WRITE", "nftApplyElements: netlink bind() failed: " + ErrnoText(e), {e});
    }
    const int fd = mnl_socket_get_fd(nl);
    int one = 1;
    // Errors name the attribute at fault, and do not echo our (up to
    // megabytes of) request back.
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    socklen_t len = sizeof sndbuf_;
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
    nl_ = nl;
  }

  // Cuts the ops into messages; returns the batch's size in bytes.
  size_t Plan(uint32_t count) {
    messages_.clear();
    elementAt_.resize(count);
    size_t total = 2 * MNL_ALIGN(NLMSG_HDRLEN + sizeof(struct nfgenmsg));  // BEGIN, END
    for (uint32_t i = 0; i < count; i++) {
      const uint8_t* rec = records_ + i * kRecordBytes;
      const size_t bytes = ElementBytes(rec);
      const uint16_t set = U16le(rec + 4);
      Message* m = messages_.empty() ? nullptr : &messages_.back();
      if (m == nullptr || m->verb != rec[0] || m->set != set || m->listBytes + bytes > kMaxListBytes) {
        messages_.push_back({i, 0, rec[0], set, MNL_ATTR_HDRLEN});
        m = &messages_.back();
        total += MNL_ALIGN(NLMSG_HDRLEN + sizeof(struct nfgenmsg)) + MNL_ALIGN(MNL_ATTR_HDRLEN + table_->size() + 1) +
                 MNL_ALIGN(MNL_ATTR_HDRLEN + (*sets_)[set].size() + 1) + MNL_ATTR_HDRLEN;
      }
      m->count++;
      m->listBytes += bytes;
      total += bytes;
    }
    return total;
  }

  void Build(size_t total) {
    // Grown, never shrunk or cleared: each message zeroes what it uses.
    if (buf_.size() < total) buf_.resize(total);
    seqBegin_ = seq_ + 1;
    seq_ += static_cast<uint32_t>(messages_.size()) + 2;
    char* p = buf_.data();
    struct nlmsghdr* nlh = nftnl_batch_begin(p, seqBegin_);
    p += nlh->nlmsg_len;
    uint8_t key[44];
    for (size_t m = 0; m < messages_.size(); m++) {
      Message& msg = messages_[m];
      const uint16_t type = msg.verb == kAdd      ? static_cast<uint16_t>(NFT_MSG_NEWSETELEM)
                            : msg.verb == kDelete ? static_cast<uint16_t>(NFT_MSG_DELSETELEM)
                                                  : kMsgDestroySetElem;
      // NLM_F_CREATE as `nft add element` sends it; without NLM_F_EXCL, adding
      // an element that exists is no error.
      nlh = nftnl_nlmsg_build_hdr(p, type, family_, msg.verb == kAdd ? NLM_F_CREATE : 0, SeqOf(m));
      msg.tableAt = nlh->nlmsg_len;
      mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table_->c_str());
      msg.setAt = nlh->nlmsg_len;
      mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, (*sets_)[msg.set].c_str());
      struct nlattr* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
      for (uint32_t i = msg.firstOp; i < msg.firstOp + msg.count; i++) {
        const uint8_t* rec = records_ + i * kRecordBytes;
        elementAt_[i] = nlh->nlmsg_len;
        struct nlattr* elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
        struct nlattr* k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
        mnl_attr_put(nlh, NFTA_DATA_VALUE, BuildKey(rec, key), key);
        mnl_attr_nest_end(nlh, k);
        if (rec[3] & kHasTimeout) {
          const uint64_t ms = U32le(rec + 12);
          mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(ms));
          // The expiration too: on an element that exists already, the kernel
          // (6.12+) resets the expiry only when told one, or when the timeout
          // differs — so without it a re-add with the same timeout would not
          // refresh the element.
          mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION, htobe64(ms));
        }
        mnl_attr_nest_end(nlh, elem);
      }
      mnl_attr_nest_end(nlh, list);
      p += nlh->nlmsg_len;
    }
    nlh = nftnl_batch_end(p, SeqEnd());
    nlh->nlmsg_flags |= NLM_F_ACK;
    p += nlh->nlmsg_len;
    batchBytes_ = static_cast<size_t>(p - buf_.data());
  }

  uint32_t SeqOf(size_t message) const { return seqBegin_ + 1 + static_cast<uint32_t>(message); }
  uint32_t SeqEnd() const { return seqBegin_ + 1 + static_cast<uint32_t>(messages_.size()); }

  std::string Where() const { return std::string("nftApplyElements: table ") + FamilyName(family_) + " " + *table_; }

  void Send(Napi::Env env) {
    const int fd = mnl_socket_get_fd(nl_);
    // The whole batch must be one datagram (BEGIN and END in one skb), and
    // netlink refuses a datagram larger than the send buffer less 32 bytes.
    if (batchBytes_ + 32 > static_cast<size_t>(sndbuf_)) {
      const int want = static_cast<int>(batchBytes_ + 64);
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);  // capped by net.core.wmem_max
      }
      socklen_t len = sizeof sndbuf_;
      getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
    }
    for (;;) {
      const ssize_t n = mnl_socket_sendto(nl_, buf_.data(), batchBytes_);
      if (n >= 0) return;
      const int e = errno;
      if (e == EINTR) continue;
      const std::string why = e == EMSGSIZE ? " (the batch, " + std::to_string(batchBytes_) +
                                                  " bytes, is larger than the socket's send buffer could be made: send fewer ops per call)"
                                            : "";
      Fail(env, "NFT_WRITE", Where() + ": netlink sendto failed: " + ErrnoText(e) + why + "; nothing was changed", {e});
    }
  }

  void Receive(Napi::Env env) {
    const int fd = mnl_socket_get_fd(nl_);
    if (rx_.size() < kRecvBufBytes) rx_.resize(kRecvBufBytes);
    const uint32_t span = SeqEnd() - seqBegin_;
    bool endAcked = false, lost = false;
    int batchErr = 0;
    size_t refusedMessages = 0;
    Refusal first;
    while (!endAcked) {
      const ssize_t n = recv(fd, rx_.data(), rx_.size(), MSG_DONTWAIT);
      if (n < 0) {
        const int e = errno;
        if (e == EINTR) continue;
        if (e == ENOBUFS) {  // replies were dropped (our receive buffer was full)
          lost = true;
          continue;
        }
        if (e == EAGAIN || e == EWOULDBLOCK) break;  // every reply has been read
        Fail(env, "NFT_WRITE", Where() + ": netlink recv failed: " + ErrnoText(e) + "; whether the batch was applied is unknown", {e});
      }
      const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(rx_.data());
      int rem = static_cast<int>(n);
      for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
        if (nlh->nlmsg_type != NLMSG_ERROR || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr)) continue;
        const uint32_t d = nlh->nlmsg_seq - seqBegin_;  // wraps like the sequence numbers
        if (d > span) continue;                         // an answer to an earlier call
        Refusal r;
        ReadAck(nlh, &r);
        if (r.err == 0) {
          if (d == span) endAcked = true;
          continue;
        }
        if (d == 0 || d == span) {
          // Refused as a whole (EPERM, a failed commit, ...): the kernel
          // answers to BEGIN.
          if (batchErr == 0) batchErr = r.err;
          continue;
        }
        refusedMessages++;
        if (!first.any || d - 1 < first.message) {
          r.any = true;
          r.message = d - 1;
          first = r;
        }
      }
    }
    if (endAcked) kernelAcksEnd_ = true;
    if (first.any) FailOnMessage(env, first, refusedMessages);
    if (batchErr != 0) {
      std::string hint = batchErr == EPERM ? " (needs CAP_NET_ADMIN in the network namespace)" : "";
      Fail(env, "NFT_WRITE", Where() + ": the kernel refused the batch: " + ErrnoText(batchErr) + hint + "; nothing was changed", {batchErr});
    }
    if (endAcked) return;
    if (lost) {
      Fail(env, "NFT_WRITE", Where() + ": the kernel's answer was lost (receive buffer full): whether the batch was applied is unknown",
           {ENOBUFS});
    }
    if (kernelAcksEnd_) {
      // This kernel acknowledged END before: silence now is not success.
      Fail(env, "NFT_WRITE", Where() + ": no answer from the kernel to the batch; whether it was applied is unknown", {EPROTO});
    }
  }

  [[noreturn]] void FailOnMessage(Napi::Env env, const Refusal& r, size_t refusedMessages) {
    const Message& m = messages_[r.message];
    const std::string& set = (*sets_)[m.set];
    const std::string family = FamilyName(family_);
    // The op the kernel named, or else the first of the message.
    int64_t op = -1;
    if (r.attrAt >= 0) {
      for (uint32_t i = m.firstOp; i < m.firstOp + m.count; i++) {
        if (elementAt_[i] == r.attrAt) op = i;
      }
    }
    std::string what, hint;
    if (op >= 0) {
      const uint8_t* rec = records_ + op * kRecordBytes;
      what = "table " + family + " " + *table_ + ", set " + set + ", op " + std::to_string(op) + " (" + OpText(rec) + ")";
      switch (r.err) {
        case ENOENT: hint = "no such element"; break;
        case EEXIST: hint = "the element exists and differs"; break;
        case ENFILE: hint = "the set is full (its `size`)"; break;
        case EINVAL:
          hint = "is the set's key this op's 5-tuple (an ipv4 op on an ipv6 set?); a timeout needs `flags timeout` on the set; "
                 "adding to a map needs data, which nftApplyElements does not write";
          break;
        default: break;
      }
    } else {
      op = m.firstOp;
      const std::string ops = "ops " + std::to_string(m.firstOp) + ".." + std::to_string(m.firstOp + m.count - 1) + ", " +
                              VerbName(m.verb);
      if (r.attrAt == m.tableAt) {
        what = "no table " + family + " " + *table_ + " (" + ops + " on set " + set + ")";
      } else if (r.attrAt == m.setAt) {
        what = "table " + family + " " + *table_ + " has no set " + set + " (" + ops + ")";
      } else {
        what = "table " + family + " " + *table_ + ", set " + set + " (" + ops + ")";
      }
    }
    if (!r.kernelText.empty()) hint += (hint.empty() ? "" : "; ") + std::string("kernel: ") + r.kernelText;
    const std::string more =
        refusedMessages > 1 ? "; " + std::to_string(refusedMessages - 1) + " more message(s) of the batch failed too" : "";
    Fail(env, "NFT_WRITE",
         "nftApplyElements: " + what + ": " + ErrnoText(r.err) + (hint.empty() ? "" : ": " + hint) + more +
             "; the batch changed nothing",
         {r.err, -1, op});
  }

  struct mnl_socket* nl_ = nullptr;
  int sndbuf_ = 0;              // SO_SNDBUF as the kernel reports it (the usable size + overhead)
  uint32_t seq_ = 0;
  bool kernelAcksEnd_ = false;  // a batch END was acknowledged once (kernel >= 6.10)
  std::vector<char> buf_, rx_;
  std::vector<Message> messages_;
  std::vector<uint32_t> elementAt_;  // per op: offset of its NFTA_LIST_ELEM in its message
  uint32_t seqBegin_ = 0;
  size_t batchBytes_ = 0;
  // The current call's arguments.
  const std::string* table_ = nullptr;
  const std::vector<std::string>* sets_ = nullptr;
  const uint8_t* records_ = nullptr;
  uint8_t family_ = NFPROTO_INET;
};

std::string ReadName(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsString()) Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: " + what + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  // NFT_NAME_MAXLEN (256) includes the terminating NUL.
  if (s.empty() || s.size() > NFT_NAME_MAXLEN - 1 || s.find('\0') != std::string::npos) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         "nftApplyElements: " + what + " must be 1.." + std::to_string(NFT_NAME_MAXLEN - 1) + " characters without NUL");
  }
  return s;
}

// Records come from src/setWrite.ts, which checks every field with the op's
// index; this only keeps a malformed record from reaching the kernel.
void CheckRecords(Napi::Env env, const uint8_t* records, uint32_t count, size_t sets) {
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* r = records + i * kRecordBytes;
    const bool ok = r[0] <= kDestroy && (r[1] == 4 || r[1] == 16) && (r[2] == IPPROTO_TCP || r[2] == IPPROTO_UDP) &&
                    U16le(r + 4) < sets && (!(r[3] & kHasTimeout) || (r[0] == kAdd && U32le(r + 12) > 0));
    if (!ok) Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: malformed op record " + std::to_string(i), {0, -1, i});
  }
}

}  // namespace

// nftApplyElements(table, nfproto, sets: string[], records: Uint8Array, count): undefined.
// Throws NFT_WRITE (errno, index = the op at fault) when the kernel refuses
// the batch — which then changed nothing.
static Napi::Value NftApplyElements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* writer = static_cast<ElementWriter*>(info.Data());
  const std::string table = ReadName(env, info[0], "table");
  const uint32_t family = ReadU32(env, info[1], "nftApplyElements: family", 0, 255);
  if (family != NFPROTO_INET && family != NFPROTO_IPV4 && family != NFPROTO_IPV6) {
    Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: family must be NFPROTO_INET, NFPROTO_IPV4 or NFPROTO_IPV6");
  }
  if (!info[2].IsArray()) Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: sets must be an array of set names");
  Napi::Array names = info[2].As<Napi::Array>();
  if (names.Length() > 0xffff) Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: at most 65535 sets per call");
  std::vector<std::string> sets;
  sets.reserve(names.Length());
  for (uint32_t i = 0; i < names.Length(); i++) sets.push_back(ReadName(env, names.Get(i), "set name"));
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: records must be a Uint8Array");
  }
  Napi::Uint8Array records = info[3].As<Napi::Uint8Array>();
  const uint32_t count = ReadU32(env, info[4], "nftApplyElements: count", 0, kMaxOps);
  if (records.ByteLength() < static_cast<size_t>(count) * kRecordBytes) {
    Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: records hold fewer than count ops");
  }
  if (count == 0) return env.Undefined();
  CheckRecords(env, records.Data(), count, sets.size());
  writer->Apply(env, table, static_cast<uint8_t>(family), sets, records.Data(), count);
  return env.Undefined();
}

void InitSetWrite(Napi::Env env, Napi::Object exports) {
  // One writer (and socket) per environment, freed at its teardown.
  auto* writer = new ElementWriter();
  napi_add_env_cleanup_hook(env, [](void* w) { delete static_cast<ElementWriter*>(w); }, writer);
  exports.Set("nftApplyElements", Napi::Function::New<NftApplyElements>(env, "nftApplyElements", writer));
}

}  // namespace l7nfq
