// nftGetElements: 5-tuple flow set elements read by key straight from
// nf_tables over nfnetlink (libmnl + libnftnl), for the stateless edge's
// sweep of the flows it knows.
//
// Why not a dump (nftSetElements): the kernel walks a hash set from its
// start again for every chunk of a dump, so a dump costs the square of the
// set's size (measured: 50k elements 0.17 s of CPU, 100k 0.88 s, 200k 3 s,
// 600k 33 s). A lookup by key is O(1) however large the set.
//
// The requests: one NFT_MSG_GETSETELEM (not a dump) per read, each naming
// table, set and one key, without NLM_F_ACK. The kernel answers each with
// exactly one message carrying the request's sequence number: an
// NFT_MSG_NEWSETELEM with the element (its counter, its expiration), or an
// NLMSG_ERROR (ENOENT: no such element, or no such table or set — the
// extended ack's NLMSGERR_ATTR_OFFS tells which attribute it refused). One
// element per request because the kernel stops a request's element list at
// its first missing element.
//
// Chunks: many requests go out as one datagram, which nfnetlink handles
// inside our sendto() (every request in turn, in the sender's context), so
// when sendto() returns all the answers are queued on our socket, or
// dropped if they overflowed its receive buffer. So a chunk holds no more
// requests than the receive buffer has room for answers (an answer is
// about 0.8 KiB of it), and answers are drained before the next chunk is
// sent. Answers dropped all the same (ENOBUFS) are asked again in smaller
// chunks: reads change nothing, so they can be repeated.
//
// The socket is the environment's ElementSocket (setelem.h), shared with
// nftApplyElements: opened at the first call of either, it acts on the
// network namespace of the thread at that time.
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "setelem.h"
#include "setread.h"

namespace l7nfq {

namespace {

// Reads per call: a bound on memory (about 200 bytes per read), not a
// kernel limit.
constexpr uint32_t kMaxReads = 1u << 20;

// The receive buffer asked for (the limit the kernel reports: SO_RCVBUFFORCE
// of half of it), and the room counted per answer in it: an answer's skb
// costs 832 bytes of the buffer (measured on 6.18 for found and missing
// elements alike: its trimmed data + struct sk_buff). Requests per chunk:
// 64 to 1024 measured the same (the kernel's work dominates); 256 keeps
// about 200 KiB of answers in flight.
constexpr int kWantRecvBuf = 4 << 20;
constexpr int kAnswerBytes = 2048;
constexpr uint32_t kMaxChunk = 256;
// Rounds of asking again for answers the kernel dropped, each in chunks a
// quarter of the size of the round before.
constexpr int kMaxRounds = 6;

// Numbers per read in the result.
constexpr size_t kOut = 4;

class ElementReader {
 public:
  void Read(Napi::Env env, const std::string& table, uint8_t family, const std::vector<std::string>& sets,
            const uint8_t* records, uint32_t count, double* out) {
    table_ = &table;
    family_ = family;
    sets_ = &sets;
    records_ = records;
    out_ = out;
    sock_ = &EnvElementSocket(env);
    sock_->Open(env, "nftGetElements", "NFT_READ");
    const int rcvbuf = sock_->GrowRecv(kWantRecvBuf);
    uint32_t chunk = static_cast<uint32_t>(std::clamp(rcvbuf / kAnswerBytes, 1, static_cast<int>(kMaxChunk)));

    // Where the kernel's extended ack points in a request when it refuses
    // the table or the set name (offsets from the start of the message); a
    // missing element's ENOENT points at the element.
    tableAt_ = NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));
    setAt_ = tableAt_ + MNL_ALIGN(MNL_ATTR_HDRLEN + table.size() + 1);
    size_t longestSet = 0;
    for (const std::string& s : sets) longestSet = std::max(longestSet, s.size());
    maxMessageBytes_ = setAt_ + MNL_ALIGN(MNL_ATTR_HDRLEN + longestSet + 1) + 4 * MNL_ATTR_HDRLEN + kKeyLenV6;

    pending_.resize(count);
    for (uint32_t i = 0; i < count; i++) pending_[i] = i;
    for (int round = 1;; round++) {
      retry_.clear();
      for (size_t at = 0; at < pending_.size(); at += chunk) {
        RunChunk(env, pending_.data() + at, static_cast<uint32_t>(std::min<size_t>(chunk, pending_.size() - at)));
      }
      if (retry_.empty()) return;
      if (round == kMaxRounds) {
        Fail(env, "NFT_READ",
             Where() + ": the kernel's answers to " + std::to_string(retry_.size()) + " read(s) (the first: read " +
                 std::to_string(retry_[0]) + ") were lost " + std::to_string(kMaxRounds) +
                 " times (the receive buffer was full)",
             {ENOBUFS, -1, retry_[0]});
      }
      chunk = std::max<uint32_t>(1, chunk / 4);
      pending_.swap(retry_);
    }
  }

 private:
  enum : uint8_t { kPending, kDone, kLost };

  // A read the kernel refused: the lowest one of a chunk is reported.
  struct Refusal {
    bool any = false;
    uint32_t read = 0;
    NlAck ack;
    std::string why;  // ours, when the answer made no sense
  };

  std::string Where() const { return std::string("nftGetElements: table ") + NftFamilyName(family_) + " " + *table_; }

  // Reads `n` reads (indices `reads`) with one datagram of requests.
  void RunChunk(Napi::Env env, const uint32_t* reads, uint32_t n) {
    const uint32_t base = sock_->Reserve(n);
    if (buf_.size() < n * maxMessageBytes_) buf_.resize(n * maxMessageBytes_);
    char* p = buf_.data();
    uint8_t key[kKeyLenV6];
    for (uint32_t d = 0; d < n; d++) {
      const uint8_t* rec = records_ + static_cast<size_t>(reads[d]) * kRecordBytes;
      struct nlmsghdr* nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_GETSETELEM, family_, 0, base + d);
      mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table_->c_str());
      mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, (*sets_)[RecordSet(rec)].c_str());
      struct nlattr* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
      struct nlattr* elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
      struct nlattr* k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
      mnl_attr_put(nlh, NFTA_DATA_VALUE, BuildKey(rec, key), key);
      mnl_attr_nest_end(nlh, k);
      mnl_attr_nest_end(nlh, elem);
      mnl_attr_nest_end(nlh, list);
      p += nlh->nlmsg_len;
    }
    const size_t bytes = static_cast<size_t>(p - buf_.data());
    sock_->FitSend(bytes);
    if (const int e = sock_->Send(buf_.data(), bytes); e != 0) {
      Fail(env, "NFT_READ", Where() + ": netlink sendto failed: " + ErrnoText(e), {e, -1, reads[0]});
    }

    state_.assign(n, kPending);
    Refusal refused;
    bool lost = false;
    uint32_t unanswered = n;
    const int e = sock_->Drain(
        [&](const struct nlmsghdr* nlh) {
          const uint32_t d = nlh->nlmsg_seq - base;  // wraps like the sequence numbers
          if (d >= n || state_[d] != kPending) return true;  // an answer to an earlier chunk or call
          const uint32_t i = reads[d];
          NlAck ack;
          if (nlh->nlmsg_type == NLMSG_ERROR) {
            ack = ParseAck(nlh);
            if (ack.err == 0) return true;  // an ack: not asked for, not an answer
          } else if (!IsNewSetElem(nlh)) {
            return true;
          }
          state_[d] = kDone;
          if (IsNewSetElem(nlh)) {
            if (!Found(i, nlh) && (!refused.any || i < refused.read)) {
              refused = {true, i, {EPROTO, -1, ""}, "the kernel answered with something else than the element asked for"};
            }
          } else {
            if (ack.err == ENOENT && ack.attrAt != tableAt_ && ack.attrAt != setAt_) {
              // No such element (the ack points at it).
              double* o = out_ + static_cast<size_t>(i) * kOut;
              o[0] = 0, o[1] = 0, o[2] = 0, o[3] = -1;
            } else if (ack.err == ENOBUFS) {
              state_[d] = kLost;  // the element did not fit the receive buffer: asked again
              lost = true;
            } else if (!refused.any || i < refused.read) {
              refused = {true, i, std::move(ack), ""};
            }
          }
          // One answer per request: when all came, nothing more of this chunk is queued.
          return --unanswered > 0;
        },
        &lost);
    if (e != 0) Fail(env, "NFT_READ", Where() + ": netlink recv failed: " + ErrnoText(e), {e, -1, reads[0]});
    if (refused.any) FailOn(env, refused);
    for (uint32_t d = 0; d < n; d++) {
      if (state_[d] == kDone) continue;
      if (!lost) {
        Fail(env, "NFT_READ", Where() + ": no answer from the kernel to read " + std::to_string(reads[d]), {EPROTO, -1, reads[d]});
      }
      retry_.push_back(reads[d]);
    }
  }

  // An element the kernel sent for read i: false unless it is that read's key.
  bool Found(uint32_t i, const struct nlmsghdr* nlh) {
    const uint8_t* rec = records_ + static_cast<size_t>(i) * kRecordBytes;
    const struct nlattr* list = ElementList(nlh);
    if (list == nullptr) return false;
    const auto* elem = static_cast<const struct nlattr*>(mnl_attr_get_payload(list));
    if (!mnl_attr_ok(elem, static_cast<int>(mnl_attr_get_payload_len(list))) || mnl_attr_get_type(elem) != NFTA_LIST_ELEM) return false;
    ElementAttrs el;
    uint8_t key[kKeyLenV6];
    const size_t keyLen = BuildKey(rec, key);
    if (!ParseElement(elem, &el) || el.keyLen != keyLen || memcmp(el.key, key, keyLen) != 0) return false;
    double* o = out_ + static_cast<size_t>(i) * kOut;
    o[0] = 1;
    o[1] = static_cast<double>(el.packets);
    o[2] = static_cast<double>(el.bytes);
    o[3] = el.hasExpiration ? static_cast<double>(el.expirationMs) : -1;
    return true;
  }

  [[noreturn]] void FailOn(Napi::Env env, const Refusal& r) {
    const uint8_t* rec = records_ + static_cast<size_t>(r.read) * kRecordBytes;
    const std::string& set = (*sets_)[RecordSet(rec)];
    const std::string family = NftFamilyName(family_);
    const std::string read = "read " + std::to_string(r.read);
    const int err = r.ack.err;
    if (err == EPERM) {
      // nfnetlink refuses the whole datagram (answering its first request):
      // no read is at fault.
      Fail(env, "NFT_READ",
           Where() + ": the kernel refused the request: " + ErrnoText(err) + " (needs CAP_NET_ADMIN in the network namespace)",
           {err});
    }
    std::string what, hint;
    if (r.ack.attrAt == tableAt_) {
      what = "no table " + family + " " + *table_ + " (" + read + ", set " + set + ")";
    } else if (r.ack.attrAt == setAt_) {
      what = "table " + family + " " + *table_ + " has no set " + set + " (" + read + ")";
    } else {
      what = "table " + family + " " + *table_ + ", set " + set + ", " + read + " (" + RecordTupleText(rec) + ")";
      if (err == EINVAL) hint = "is the set's key this read's 5-tuple (an ipv4 read on an ipv6 set?)";
    }
    if (!r.why.empty()) hint = r.why;
    if (!r.ack.kernelText.empty()) hint += (hint.empty() ? "" : "; ") + std::string("kernel: ") + r.ack.kernelText;
    Fail(env, "NFT_READ", "nftGetElements: " + what + ": " + ErrnoText(err) + (hint.empty() ? "" : ": " + hint),
         {err, -1, r.read});
  }

  ElementSocket* sock_ = nullptr;
  std::vector<char> buf_;
  std::vector<uint32_t> pending_, retry_;  // read indices
  std::vector<uint8_t> state_;             // per request of the chunk
  uint32_t tableAt_ = 0, setAt_ = 0;
  size_t maxMessageBytes_ = 0;
  // The current call's arguments.
  const std::string* table_ = nullptr;
  const std::vector<std::string>* sets_ = nullptr;
  const uint8_t* records_ = nullptr;
  double* out_ = nullptr;
  uint8_t family_ = NFPROTO_INET;
};

}  // namespace

// nftGetElements(table, nfproto, sets: string[], records: Uint8Array, count): Float64Array
// of count * 4 numbers: [found (1|0), packets, bytes, expiresMs (-1: none)]
// per read. Throws NFT_READ (errno, index = the read at fault).
static Napi::Value NftGetElements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* reader = static_cast<ElementReader*>(info.Data());
  const ElementCall call = ReadElementCall(info, "nftGetElements", "reads", kMaxReads);
  // Records come from src/setRead.ts, which checks every field with the
  // read's index; this only keeps a malformed record from reaching the kernel.
  for (uint32_t i = 0; i < call.count; i++) {
    if (!RecordTupleOk(call.records + static_cast<size_t>(i) * kRecordBytes, call.sets.size())) {
      Fail(env, "NFQ_INVALID_ARGUMENT", "nftGetElements: malformed read record " + std::to_string(i), {0, -1, i});
    }
  }
  Napi::Float64Array out = Napi::Float64Array::New(env, static_cast<size_t>(call.count) * kOut);
  if (call.count > 0) reader->Read(env, call.table, call.family, call.sets, call.records, call.count, out.Data());
  return out;
}

void InitSetRead(Napi::Env env, Napi::Object exports) {
  // One reader per environment, freed at its teardown.
  auto* reader = new ElementReader();
  napi_add_env_cleanup_hook(env, [](void* r) { delete static_cast<ElementReader*>(r); }, reader);
  exports.Set("nftGetElements", Napi::Function::New<NftGetElements>(env, "nftGetElements", reader));
}

}  // namespace l7nfq
