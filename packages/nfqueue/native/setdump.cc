// nftSetElements: the elements of one nftables 5-tuple flow set (or map),
// read straight from the kernel over nfnetlink, off the JS thread.
//
// Why not nft (the CLI or libnftables): to print or look up elements nft
// first fetches the set's definition and every element, builds its own
// expression tree for each and evaluates it in userspace — 6-9 s for
// `nft -j list set` of 100k elements, 2-3 s for `get element` of ONE key.
// The kernel dumps the same set in a fraction of that, so this asks it
// directly: NFT_MSG_GETSET (key type and length, checked before anything
// is decoded), then an NFT_MSG_GETSETELEM dump, each reply message parsed
// (ParseElement, setelem.h) and turned into fixed-size numbers right away.
// Reading single elements by key (nftGetElements, setread.cc) avoids the
// dump's cost, which grows with the square of the set's size.
//
// Threading: the call's two netlink sockets (the dump's and CommitWatch's)
// are opened on the calling (JS) thread, so the dump reads the network
// namespace of the caller, and then used only by a Napi::AsyncWorker on a
// libuv pool thread. Each call has its own sockets, so calls never wait for
// one another, and the event loop keeps running during the dump.
//
// Consistency: the kernel produces a dump in chunks (one per recvmsg, at
// most 32 KiB, about 300 elements of such a set) and walks the hash table
// from its start again for every chunk, skipping as many elements as it has
// walked before. (This restart also makes the kernel's cost grow with the
// square of the set size: see the README.) A change to the set between two
// chunks shifts the elements behind it: an insert makes one element come
// twice, a removal makes one never come; a resize of the hash table (after
// many inserts or removals) reorders it all. The kernel does not flag set
// dumps as interrupted (NLM_F_DUMP_INTR; honoured anyway), so a dump is
// redone — and after kMaxAttempts the call fails with EINTR rather than
// return an answer that may lack elements — when:
//   - a commit changed THIS set while it was read: every chunk carries the
//     ruleset generation it was made in (nfgenmsg res_id), and if that moved,
//     CommitWatch tells from the kernel's change notifications what the
//     commits touched (commits elsewhere, e.g. verdict-map updates, do not
//     count);
//   - a key came again where no insert can have put it (CheckRepeats): the
//     table was reordered. Repeats an insert explains are dropped.
// Removals without a commit — timeout garbage collection, `delete @set` in
// a rule, a failed transaction taking back its inserts — leave no trace in
// the dump: an element can be missing from a dump that overlapped one.
// README: "nftSetElements".
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commitwatch.h"
#include "common.h"
#include "setelem.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace l7nfq {

namespace {

// nft's datatype numbers (src/datatype.h); a concatenation's type is the
// field types packed 6 bits each, first field highest (concat_subtype_add).
constexpr uint32_t kTypeIpv4Addr = 7, kTypeIpv6Addr = 8, kTypeInetProto = 12, kTypeInetService = 13;
constexpr uint32_t Concat5(uint32_t addr) {
  return ((((addr << 6 | kTypeInetProto) << 6 | kTypeInetService) << 6 | addr) << 6) | kTypeInetService;
}
constexpr uint32_t kKeyTypeV4 = Concat5(kTypeIpv4Addr);
constexpr uint32_t kKeyTypeV6 = Concat5(kTypeIpv6Addr);

// Keys: kKeyLenV4 and kKeyLenV6 (setelem.h), the concatenation as the
// kernel stores it.

constexpr int kMaxAttempts = 5;            // dumps of one call, the redone ones included
constexpr int kRecvTimeoutSeconds = 5;     // a kernel that stops answering fails the call, never hangs it
constexpr int kAnnounceWaitMs = 1000;      // for the notifications of a commit seen in the dump
constexpr size_t kRecvBufBytes = 64 * 1024;  // > the kernel's 32 KiB dump chunk

struct NftnlSetFree {
  void operator()(struct nftnl_set* s) const { nftnl_set_free(s); }
};
using NftnlSet = std::unique_ptr<struct nftnl_set, NftnlSetFree>;

// The keys of one dump, numbered in the order they first came, to recognise
// a key the walk yields a second time. Open addressing over indices into one
// flat array of keys: no allocation per element (a
// std::unordered_set<std::string> cost more than the decoding).
class KeySet {
 public:
  void Reset(size_t keyLen) {
    keyLen_ = keyLen;
    keys_.clear();
    slots_.assign(1024, 0);
    count_ = 0;
  }
  // The key's number; `added` tells whether it is new.
  uint32_t Insert(const uint8_t* key, bool* added) {
    if ((count_ + 1) * 2 > slots_.size()) Grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash(key) & mask;; i = (i + 1) & mask) {
      const uint32_t at = slots_[i];
      if (at == 0) {
        keys_.insert(keys_.end(), key, key + keyLen_);
        slots_[i] = static_cast<uint32_t>(++count_);
        *added = true;
        return slots_[i];
      }
      if (memcmp(keys_.data() + (at - 1) * keyLen_, key, keyLen_) == 0) {
        *added = false;
        return at;
      }
    }
  }

 private:
  size_t Hash(const uint8_t* key) const {  // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < keyLen_; i++) h = (h ^ key[i]) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
  void Grow() {
    std::vector<uint32_t> old(slots_.size() * 2, 0);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const uint32_t at : old) {
      if (at == 0) continue;
      size_t i = Hash(keys_.data() + (at - 1) * keyLen_) & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = at;
    }
  }
  size_t keyLen_ = 0;
  std::vector<uint8_t> keys_;
  std::vector<uint32_t> slots_;
  size_t count_ = 0;
};

struct Failure {
  std::string message;
  int err = 0;
};

// What the worker hands back: 7 numbers per element
//   [ipVersion (4|6), protocol, sport, dport, packets, bytes, expiresMs (-1: none)]
// and the addresses as ASCII text, all in one buffer (src, dst, src, dst,
// ...), address k being addrs[offsets[k], offsets[k + 1]). Three typed
// arrays cross into JS, not 100k objects: the JS side builds the objects
// in slices, between which the event loop runs.
struct DumpResult {
  std::vector<double> nums;
  std::string addrs;
  std::vector<uint32_t> offsets{0};
  size_t count = 0;
  size_t duplicates = 0;  // keys the walk yielded again (dropped)
  int attempts = 0;
};

class SetDumpWorker : public Napi::AsyncWorker {
 public:
  SetDumpWorker(Napi::Env env, std::string table, std::string set, uint8_t family)
      : Napi::AsyncWorker(env, "l7nfq:nftSetElements"),
        deferred_(Napi::Promise::Deferred::New(env)),
        table_(std::move(table)),
        set_(std::move(set)),
        family_(family),
        watch_(table_, set_, family_) {
    what_ = std::string("set ") + NftFamilyName(family_) + " " + table_ + " " + set_;
    // Both sockets are opened here, on the caller's thread: a netlink socket
    // belongs to the network namespace of the thread that creates it. The
    // watch subscribes before the first dump request, so it hears of every
    // commit that can overlap a dump. Without it (no permission to join the
    // group) any commit during a dump counts as one that changed the set.
    watch_.Open();
    nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (nl_ == nullptr) {
      Fail(errno, "socket(AF_NETLINK, NETLINK_NETFILTER) failed");
      return;
    }
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
      Fail(errno, "netlink bind() failed");
      return;
    }
    const int fd = mnl_socket_get_fd(nl_);
    struct timeval tv = {kRecvTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    // Extended acks name the attribute the kernel refused (table or set).
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }

  ~SetDumpWorker() override {
    if (nl_ != nullptr) mnl_socket_close(nl_);
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    if (failed_) return;
    if (!CheckSetType()) return;
    for (int attempt = 1; attempt <= kMaxAttempts; attempt++) {
      result_ = DumpResult{};
      result_.attempts = attempt;
      seen_.Reset(keyLen_);
      chunk_.clear();
      prevChunk_.clear();
      reordered_ = false;
      const Outcome o = DumpOnce();
      if (o == Outcome::kDone || o == Outcome::kFailed) return;
      lastRetry_ = o;
    }
    if (lastRetry_ == Outcome::kLost) {
      Fail(ENOBUFS, "the kernel dropped part of each of " + std::to_string(kMaxAttempts) + " dumps");
    } else {
      Fail(EINTR, "the set changed during each of " + std::to_string(kMaxAttempts) +
                      " dumps (commits to it, or the kernel reordering its hash table), so none is known to be complete");
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (failed_) {
        deferred_.Reject(MakeError(env, "NFT_DUMP", "nftSetElements: " + what_ + ": " + failure_.message, {failure_.err}));
        return;
      }
      Napi::Object out = Napi::Object::New(env);
      out.Set("count", Napi::Number::New(env, static_cast<double>(result_.count)));
      out.Set("nums", HandOver<double>(env, std::move(result_.nums)));
      out.Set("addrs", HandOver<uint8_t>(env, std::move(result_.addrs)));
      out.Set("offsets", HandOver<uint32_t>(env, std::move(result_.offsets)));
      out.Set("attempts", Napi::Number::New(env, result_.attempts));
      out.Set("duplicates", Napi::Number::New(env, static_cast<double>(result_.duplicates)));
      deferred_.Resolve(out);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

 private:
  enum class Outcome { kDone, kFailed, kInterrupted, kLost };

  void Fail(int err, std::string message) {
    if (failed_) return;
    failed_ = true;
    failure_ = {err != 0 ? message + ": " + ErrnoText(err) : message, err};
  }

  // Sends one request; false after Fail().
  bool Send(const struct nlmsghdr* nlh) {
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
      Fail(errno, "netlink sendto failed");
      return false;
    }
    return true;
  }

  struct nlmsghdr* Request(char* buf, uint16_t type, uint16_t flags) {
    struct nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = ++seq_;
    auto* nfg = static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
    nfg->nfgen_family = family_;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    return nlh;
  }

  // The kernel's error for our request, in words: which of table and set it
  // refused comes from the extended ack (NLMSGERR_ATTR_OFFS: the offset of
  // the attribute in the request, compared with where we put each).
  void FailFromAck(const struct nlmsghdr* nlh, int tableAttrOffset, int setAttrOffset) {
    const NlAck ack = ParseAck(nlh);
    std::string what;
    if (ack.attrAt == tableAttrOffset) what = std::string("no table ") + NftFamilyName(family_) + " " + table_;
    if (ack.attrAt == setAttrOffset) what = std::string("table ") + NftFamilyName(family_) + " " + table_ + " has no set " + set_;
    if (what.empty() && ack.err == ENOENT) what = std::string("no table ") + NftFamilyName(family_) + " " + table_ + " or no set " + set_ + " in it";
    if (what.empty()) what = "the kernel refused the request";
    if (!ack.kernelText.empty()) what += " (" + ack.kernelText + ")";
    Fail(ack.err, what);
  }

  // NFT_MSG_GETSET: the set exists, and its key is a 5-tuple this code decodes.
  // Refusing here also refuses a wrong set that happens to be empty.
  bool CheckSetType() {
    std::vector<char> tx(MNL_SOCKET_BUFFER_SIZE);
    struct nlmsghdr* req = Request(tx.data(), NFT_MSG_GETSET, NLM_F_ACK);
    const int tableAt = static_cast<int>(req->nlmsg_len);
    mnl_attr_put_strz(req, NFTA_SET_TABLE, table_.c_str());
    const int setAt = static_cast<int>(req->nlmsg_len);
    mnl_attr_put_strz(req, NFTA_SET_NAME, set_.c_str());
    if (!Send(req)) return false;
    const uint32_t seq = req->nlmsg_seq;

    std::vector<char> rx(kRecvBufBytes);
    bool acked = false, gotSet = false;
    uint32_t keyType = 0, keyLen = 0, flags = 0;
    while (!acked) {
      const ssize_t n = Recv(rx);
      if (n < 0) return false;
      const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(rx.data());
      int rem = static_cast<int>(n);
      for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
        if (nlh->nlmsg_seq != seq) continue;
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
          if (e->error != 0) {
            FailFromAck(nlh, tableAt, setAt);
            return false;
          }
          acked = true;
        } else if (nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSET)) {
          NftnlSet s(nftnl_set_alloc());
          if (!s || nftnl_set_nlmsg_parse(nlh, s.get()) < 0) {
            Fail(EINVAL, "cannot parse the kernel's description of the set");
            return false;
          }
          keyType = nftnl_set_is_set(s.get(), NFTNL_SET_KEY_TYPE) ? nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_TYPE) : 0;
          keyLen = nftnl_set_is_set(s.get(), NFTNL_SET_KEY_LEN) ? nftnl_set_get_u32(s.get(), NFTNL_SET_KEY_LEN) : 0;
          flags = nftnl_set_is_set(s.get(), NFTNL_SET_FLAGS) ? nftnl_set_get_u32(s.get(), NFTNL_SET_FLAGS) : 0;
          gotSet = true;
        }
      }
    }
    if (!gotSet) {
      Fail(EPROTO, "the kernel acknowledged but sent no set description");
      return false;
    }
    // Type 0 would be a set made without nft's type annotation: then the
    // length alone decides.
    const bool v4 = keyLen == kKeyLenV4 && (keyType == kKeyTypeV4 || keyType == 0);
    const bool v6 = keyLen == kKeyLenV6 && (keyType == kKeyTypeV6 || keyType == 0);
    if (flags & NFT_SET_INTERVAL) {
      // Its elements are ranges (a key and a key end), not single flows.
      Fail(0, "an interval set (flags interval) holds ranges, not flows");
      return false;
    }
    if (!v4 && !v6) {
      char hex[16];
      snprintf(hex, sizeof hex, "0x%x", keyType);
      Fail(0, "not a 5-tuple flow set: its key has type " + std::string(hex) + " and " + std::to_string(keyLen) +
                  " bytes; nftSetElements reads `ipv4_addr . inet_proto . inet_service . ipv4_addr . inet_service` "
                  "(20 bytes) and the ipv6_addr variant (44 bytes)");
      return false;
    }
    keyLen_ = keyLen;
    return true;
  }

  // recv() with the retries and errors every read needs; -1 after Fail()
  // (or -2 for ENOBUFS, which the dump loop turns into a redo).
  ssize_t Recv(std::vector<char>& rx) {
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl_, rx.data(), rx.size());
      if (n >= 0) return n;
      const int e = errno;
      if (e == EINTR) continue;
      if (e == ENOBUFS) return -2;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        Fail(ETIMEDOUT, "no answer from the kernel within " + std::to_string(kRecvTimeoutSeconds) + " s");
      } else {
        Fail(e, "netlink recv failed");
      }
      return -1;
    }
  }

  Outcome DumpOnce() {
    std::vector<char> tx(MNL_SOCKET_BUFFER_SIZE);
    struct nlmsghdr* req = Request(tx.data(), NFT_MSG_GETSETELEM, NLM_F_DUMP);
    const int tableAt = static_cast<int>(req->nlmsg_len);
    mnl_attr_put_strz(req, NFTA_SET_ELEM_LIST_TABLE, table_.c_str());
    const int setAt = static_cast<int>(req->nlmsg_len);
    mnl_attr_put_strz(req, NFTA_SET_ELEM_LIST_SET, set_.c_str());
    watch_.Reset();
    if (!Send(req)) return Outcome::kFailed;
    const uint32_t seq = req->nlmsg_seq;

    std::vector<char> rx(kRecvBufBytes);
    bool interrupted = false, lost = false;
    bool haveGen = false;
    uint16_t firstGen = 0, lastGen = 0;  // ruleset generations of the first and the latest chunk
    for (;;) {
      watch_.Poll();  // keeps its socket from overflowing during a long dump
      const ssize_t n = Recv(rx);
      if (n == -1) return Outcome::kFailed;
      if (n == -2) {
        // The kernel could not queue a part of the dump; keep reading to its
        // end (the socket cannot start another dump before), then redo it.
        lost = true;
        continue;
      }
      const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(rx.data());
      int rem = static_cast<int>(n);
      for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
        if (nlh->nlmsg_seq != seq) continue;  // a late answer to an earlier request
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
        switch (nlh->nlmsg_type) {
          case NLMSG_DONE: {
            // A dump that failed midway ends with its errno here.
            if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
              int err;
              memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof err);
              if (err < 0) {
                Fail(-err, "the dump failed midway");
                return Outcome::kFailed;
              }
            }
            if (interrupted) return Outcome::kInterrupted;
            if (lost) return Outcome::kLost;
            if (reordered_) return Outcome::kInterrupted;
            if (haveGen && watch_.Touched(firstGen, lastGen, kAnnounceWaitMs)) return Outcome::kInterrupted;
            return Outcome::kDone;
          }
          case NLMSG_ERROR: {
            const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
            if (e->error == 0) break;
            FailFromAck(nlh, tableAt, setAt);
            return Outcome::kFailed;
          }
          case NLMSG_NOOP:
          case NLMSG_OVERRUN:
            break;
          default: {
            if (!IsNewSetElem(nlh)) break;
            const auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
            lastGen = ntohs(nfg->res_id);
            if (!haveGen) firstGen = lastGen;
            haveGen = true;
            if (interrupted || lost) break;  // this dump is redone: skip the decoding
            if (!ParseChunk(nlh)) return Outcome::kFailed;
          }
        }
      }
    }
  }

  // One message = one chunk of the kernel's walk.
  bool ParseChunk(const struct nlmsghdr* nlh) {
    chunk_.clear();
    leadingRepeats_ = 0;
    if (const struct nlattr* list = ElementList(nlh)) {
      bool ok = true;
      ForEachNested(list, [&](const struct nlattr* a) {
        if (!ok || mnl_attr_get_type(a) != NFTA_LIST_ELEM) return;
        ElementAttrs el;
        if (!ParseElement(a, &el)) {
          Fail(EINVAL, "cannot parse a set element message from the kernel");
          ok = false;
          return;
        }
        ok = OnElement(el);
      });
      if (!ok) return false;
    }
    CheckRepeats();
    prevChunk_.swap(chunk_);
    return true;
  }

  // Keys that come again tell how the walk was disturbed. Elements inserted
  // ahead of the walk's position between two chunks push the previous
  // chunk's last elements into the next one: they come again, in order, at
  // its head — harmless, they are dropped. A repeat anywhere else means the
  // walk started over in a reordered table (the kernel resizing its hash
  // table, e.g. right after a bulk insert: measured, 5193 elements of 100k
  // came twice and as many never) and the dump is redone.
  void CheckRepeats() {
    if (leadingRepeats_ == 0) return;
    const size_t m = leadingRepeats_;
    if (m > prevChunk_.size() || !std::equal(chunk_.begin(), chunk_.begin() + m, prevChunk_.end() - m)) reordered_ = true;
  }

  bool OnElement(const ElementAttrs& e) {
    // The catch-all element (`*`) has no key: not a flow.
    if (e.flags & NFT_SET_ELEM_CATCHALL) return true;
    const uint8_t* key = e.key;
    const uint32_t len = e.keyLen;
    if (key == nullptr || len != keyLen_) {
      Fail(EPROTO, "an element has a key of " + std::to_string(key == nullptr ? 0 : len) + " bytes, the set " +
                       std::to_string(keyLen_));
      return false;
    }
    // A key is unique in a set: a second sighting is the walk restarting
    // over a table that changed, not another flow.
    bool added = false;
    const uint32_t id = seen_.Insert(key, &added);
    chunk_.push_back(id);
    if (!added) {
      result_.duplicates++;
      if (chunk_.size() == leadingRepeats_ + 1) {
        leadingRepeats_++;
      } else {
        reordered_ = true;
      }
      return true;
    }

    const bool v6 = len == kKeyLenV6;
    const size_t alen = v6 ? 16 : 4;
    const uint8_t* src = key;
    const uint8_t proto = key[alen];
    const uint16_t sport = static_cast<uint16_t>(key[alen + 4] << 8 | key[alen + 5]);
    const uint8_t* dst = key + alen + 8;
    const uint16_t dport = static_cast<uint16_t>(key[2 * alen + 8] << 8 | key[2 * alen + 9]);

    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
      std::string a, b;
      AppendAddress(a, src, v6);
      AppendAddress(b, dst, v6);
      Fail(EPROTO, "element " + a + " . " + std::to_string(proto) + " . " + std::to_string(sport) + " . " + b + " . " +
                       std::to_string(dport) + " has protocol " + std::to_string(proto) +
                       "; nftSetElements reads tcp and udp flows only (guard the rule that fills the set with "
                       "`meta l4proto { tcp, udp }`)");
      return false;
    }

    AppendAddress(result_.addrs, src, v6);
    result_.offsets.push_back(static_cast<uint32_t>(result_.addrs.size()));
    AppendAddress(result_.addrs, dst, v6);
    result_.offsets.push_back(static_cast<uint32_t>(result_.addrs.size()));
    result_.nums.insert(result_.nums.end(), {
        v6 ? 6.0 : 4.0,
        static_cast<double>(proto),
        static_cast<double>(sport),
        static_cast<double>(dport),
        static_cast<double>(e.packets),
        static_cast<double>(e.bytes),
        e.hasExpiration ? static_cast<double>(e.expirationMs) : -1.0,
    });
    result_.count++;
    return true;
  }

  Napi::Promise::Deferred deferred_;
  const std::string table_;
  const std::string set_;
  const uint8_t family_;
  std::string what_;
  CommitWatch watch_;
  struct mnl_socket* nl_ = nullptr;
  uint32_t seq_ = 0;
  uint32_t keyLen_ = 0;
  bool failed_ = false;
  Failure failure_;
  DumpResult result_;
  Outcome lastRetry_ = Outcome::kInterrupted;
  KeySet seen_;
  std::vector<uint32_t> chunk_, prevChunk_;  // key numbers of this chunk and the one before
  size_t leadingRepeats_ = 0;               // repeats at the head of this chunk
  bool reordered_ = false;                  // a repeat the walk's order cannot explain
};

}  // namespace

// nftSetElements(table: string, set: string, family: number) -> Promise<{ count, nums, addrs, offsets, attempts }>
// Rejects with NFT_DUMP (errno set) when the kernel refuses, the set is not a
// 5-tuple set, or no consistent dump could be read.
static Napi::Value NftSetElements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string table = ReadNftName(env, info[0], "nftSetElements", "table");
  const std::string set = ReadNftName(env, info[1], "nftSetElements", "set");
  const uint8_t family = ReadNftFamily(env, info[2], "nftSetElements");
  auto* worker = new SetDumpWorker(env, table, set, family);
  Napi::Promise p = worker->Promise();
  worker->Queue();  // the worker deletes itself when done
  return p;
}

void InitSetDump(Napi::Env env, Napi::Object exports) {
  exports.Set("nftSetElements", Napi::Function::New<NftSetElements>(env, "nftSetElements"));
}

}  // namespace l7nfq
