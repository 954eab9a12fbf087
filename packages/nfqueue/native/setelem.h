// Pieces shared by the 5-tuple set element code: nftApplyElements
// (setwrite.cc), nftGetElements (setread.cc) and nftSetElements
// (setdump.cc) — argument readers, the element record that src/setRecord.ts
// packs, the key as the kernel stores it, the kernel's answers (extended
// acks, element attributes), and the environment's nf_tables socket.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <napi.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace l7nfq {

// ---- Arguments

// "inet", "ip", "ip6" for NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6.
const char* NftFamilyName(uint8_t family);
// A table or set name: 1..255 bytes without NUL; else NFQ_INVALID_ARGUMENT
// "<fn>: <what> must be ...".
std::string ReadNftName(Napi::Env env, Napi::Value v, const char* fn, const std::string& what);
// A table family: NFPROTO_INET, NFPROTO_IPV4 or NFPROTO_IPV6.
uint8_t ReadNftFamily(Napi::Env env, Napi::Value v, const char* fn);

// The arguments nftApplyElements and nftGetElements both take:
// (table, nfproto, sets: string[], records: Uint8Array, count), each checked
// (NFQ_INVALID_ARGUMENT naming `fn`); `items` names the records in messages
// ("ops", "reads"). `records` points into the caller's Uint8Array, alive
// for the call.
struct ElementCall {
  std::string table;
  uint8_t family = 0;
  std::vector<std::string> sets;
  const uint8_t* records = nullptr;
  uint32_t count = 0;
};
ElementCall ReadElementCall(const Napi::CallbackInfo& info, const char* fn, const char* items, uint32_t maxCount);

// ---- The element record (RECORD_BYTES in src/setRecord.ts), 48 bytes:
//   0 verb (writes: kAdd/kDelete/kDestroy; reads: 0)   1 address length (4|16)   2 l4 protocol
//   3 flags (writes: kHasTimeout)   4-5 set index (LE)   6-7 sport, 8-9 dport (network order)
//   10-11 zero   12-15 timeout ms (LE; writes)   16-31 src   32-47 dst (first 4 bytes for IPv4)
constexpr size_t kRecordBytes = 48;

// The key as the kernel stores the concatenation, every field padded to 4
// bytes: addr (4|16) . proto (1 + 3) . port (2, network order, + 2) . addr . port.
constexpr uint32_t kKeyLenV4 = 4 + 4 + 4 + 4 + 4;    // 20
constexpr uint32_t kKeyLenV6 = 16 + 4 + 4 + 16 + 4;  // 44

inline uint16_t U16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t U32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
inline uint16_t RecordSet(const uint8_t* rec) { return U16le(rec + 4); }
inline size_t RecordKeyLen(const uint8_t* rec) { return rec[1] == 16 ? kKeyLenV6 : kKeyLenV4; }
// Writes the record's key (RecordKeyLen bytes) to `key`; returns its length.
size_t BuildKey(const uint8_t* rec, uint8_t* key);
// The record's 5-tuple is well-formed (address length, tcp|udp) and its set
// index below `sets`.
bool RecordTupleOk(const uint8_t* rec, size_t sets);
// "198.18.0.1 . tcp . 40000 . 198.18.0.2 . 443", for error messages.
std::string RecordTupleText(const uint8_t* rec);

// ---- The kernel's answers

// Calls f(attr) for each attribute in [first, end), as far as they are
// well-formed.
template <typename F>
void ForEachAttr(const void* first, const void* end, F&& f) {
  const auto* a = static_cast<const struct nlattr*>(first);
  const char* stop = static_cast<const char*>(end);
  while (mnl_attr_ok(a, static_cast<int>(stop - reinterpret_cast<const char*>(a)))) {
    f(a);
    a = mnl_attr_next(a);
  }
}

// Calls f(attr) for each attribute nested in `nest`.
template <typename F>
void ForEachNested(const struct nlattr* nest, F&& f) {
  const char* p = static_cast<const char*>(mnl_attr_get_payload(nest));
  ForEachAttr(p, p + mnl_attr_get_payload_len(nest), f);
}

// An NLMSG_ERROR message: errno (0: an ack), and from the extended ack the
// offset of the attribute the kernel refused (NLMSGERR_ATTR_OFFS, counted
// from the start of the request) and its text (NLMSGERR_ATTR_MSG).
struct NlAck {
  int err = 0;
  int64_t attrAt = -1;
  std::string kernelText;
};
NlAck ParseAck(const struct nlmsghdr* nlh);

// One element (NFTA_LIST_ELEM) of a set element message.
struct ElementAttrs {
  const uint8_t* key = nullptr;  // NFTA_SET_ELEM_KEY's value, in the message
  uint32_t keyLen = 0;
  uint32_t flags = 0;  // NFTA_SET_ELEM_FLAGS (NFT_SET_ELEM_CATCHALL, ...)
  uint64_t packets = 0, bytes = 0;  // its `counter` (NFTA_SET_ELEM_EXPR or _EXPRESSIONS); 0 without
  bool hasExpiration = false;
  uint64_t expirationMs = 0;  // NFTA_SET_ELEM_EXPIRATION: ms until it times out
};
// false when the attribute is malformed.
bool ParseElement(const struct nlattr* elem, ElementAttrs* out);
// NFT_MSG_DESTROYSETELEM, newer than the uapi headers of Debian 12 (kernel
// 6.3+): delete, but a missing element is no error.
constexpr uint16_t kMsgDestroySetElem = 30;

// The element list (NFTA_SET_ELEM_LIST_ELEMENTS) of a set element message
// (NFT_MSG_NEWSETELEM: a read's answer, a dump's part; DELSETELEM or
// DESTROYSETELEM: the notice of a removal), or nullptr. Its elements are the
// NFTA_LIST_ELEM attributes nested in it (ForEachNested). `set`, when given,
// gets the message's set name (NFTA_SET_ELEM_LIST_SET), or nullptr.
const struct nlattr* ElementList(const struct nlmsghdr* nlh, const char** set = nullptr);
inline bool IsNewSetElem(const struct nlmsghdr* nlh) {
  return nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM);
}

// ---- The environment's nf_tables socket

// One netlink socket per environment for nftApplyElements and
// nftGetElements, opened at the first call of either: it acts on the network
// namespace the thread was in then (like nftRun's context). Both calls are
// synchronous and take their answers by sequence number, so they share it
// (and its sequence numbers) safely.
class ElementSocket {
 public:
  ElementSocket() = default;
  ~ElementSocket();
  ElementSocket(const ElementSocket&) = delete;
  ElementSocket& operator=(const ElementSocket&) = delete;

  // Opens it unless open; a failure throws `code` naming `fn`.
  void Open(Napi::Env env, const char* fn, const char* code);
  // `n` fresh sequence numbers; returns the first.
  uint32_t Reserve(uint32_t n) {
    const uint32_t first = seq_ + 1;
    seq_ += n;
    return first;
  }
  // Grows the send buffer to take one datagram of `bytes` (SO_SNDBUFFORCE,
  // else SO_SNDBUF capped by net.core.wmem_max).
  void FitSend(size_t bytes);
  // Grows the receive buffer to `bytes` if smaller (the same way); returns
  // the kernel's limit for queued answers (the doubled value it reports).
  int GrowRecv(int bytes);
  // One datagram; 0 or errno (EINTR retried).
  int Send(const void* buf, size_t len);
  // Reads every message queued on the socket without waiting, calling
  // on(nlh) for each (stopping early when on() returns false), until the
  // queue is empty. The kernel handles nfnetlink requests inside sendto(),
  // so after Send() every answer is already queued. *lost becomes true when
  // the kernel dropped answers (ENOBUFS: the receive buffer was full) or one
  // did not fit a slot. Returns 0 or the errno of a failed read.
  template <typename F>
  int Drain(F&& on, bool* lost);

 private:
  // recvmmsg() into the slots: the number of datagrams, 0 when none is
  // queued, or -errno.
  int RecvSome(bool* lost);

  static constexpr size_t kSlots = 64;
  // An nf_tables answer is built in at most NLMSG_GOODSIZE (<= 8 KiB less
  // the skb overhead); errors are capped (NETLINK_CAP_ACK).
  static constexpr size_t kSlotBytes = 8192;

  struct mnl_socket* nl_ = nullptr;
  int sndbuf_ = 0;  // SO_SNDBUF as the kernel reports it
  int rcvbuf_ = 0;  // SO_RCVBUF likewise
  uint32_t seq_ = 0;
  std::vector<char> slots_;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iovs_;
};

// The environment's socket (not yet open: call Open()); freed with the
// environment's AddonData.
ElementSocket& EnvElementSocket(Napi::Env env);

template <typename F>
int ElementSocket::Drain(F&& on, bool* lost) {
  for (;;) {
    const int n = RecvSome(lost);
    if (n < 0) return -n;
    if (n == 0) return 0;
    for (int m = 0; m < n; m++) {
      if (msgs_[m].msg_hdr.msg_flags & MSG_TRUNC) {
        *lost = true;
        continue;
      }
      const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(slots_.data() + m * kSlotBytes);
      int rem = static_cast<int>(msgs_[m].msg_len);
      for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
        if (!on(nlh)) return 0;
      }
    }
  }
}

}  // namespace l7nfq
