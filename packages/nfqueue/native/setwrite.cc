// nftApplyElements: adds and deletes of 5-tuple flow set elements, written
// straight to nf_tables over nfnetlink (libmnl + libnftnl), for the
// stateless edge's packet path.
//
// Why not nftRun: libnftables builds its cache and parses the script on
// every call — about 0.1-0.4 ms before the first element, then ~9 µs per
// element — which made the edge 10x slower than the bare NFQUEUE loop.
// Here a call is one sendto() of a prepared buffer and a read of the answers.
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
// Counted removals (nftRemoveElements): the delete and destroy messages
// carry NLM_F_ECHO, so at commit the kernel sends us its notice of each
// element it removed, with the element's counter as it was then: the final
// count of a flow, with no read before and no packet lost in between. An
// element that was not there (destroy) gets no notice. The notices come
// before END's ack, within our sendto() like every answer.
//
// The socket is the environment's ElementSocket (setelem.h), shared with
// nftGetElements: opened at the first call of either, it acts on the
// network namespace of the thread at that time (like nftRun's context).
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "setelem.h"
#include "setwrite.h"

namespace l7nfq {

namespace {

// The verbs and flags of an op record (kRecordBytes, setelem.h).
constexpr uint8_t kAdd = 0, kDelete = 1, kDestroy = 2;
constexpr uint8_t kHasTimeout = 1;

// A message's element list is one attribute, and nla_len is 16 bits.
constexpr size_t kMaxListBytes = 0xffff;

// Ops per call: a bound on memory (80 bytes of batch per op at most), not a
// kernel limit.
constexpr uint32_t kMaxOps = 1u << 20;

// Counted removals: the receive buffer asked for, and the ops per call
// (src/setWrite.ts cuts them so): a notice takes about 200 bytes, coalesced
// into skbs of a page, so 1024 of them stay far below the buffer.
constexpr int kEchoRecvBuf = 4 << 20;
constexpr uint32_t kMaxCountedOps = 1024;

// Numbers per op in a counted removal's result (nftGetElements' layout).
constexpr size_t kCountedOut = 4;

const char* VerbName(uint8_t verb) { return verb == kAdd ? "add" : verb == kDelete ? "delete" : "destroy"; }

// NFTA_LIST_ELEM { NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE key } [TIMEOUT EXPIRATION] }
size_t ElementBytes(const uint8_t* rec) {
  return 3 * MNL_ATTR_HDRLEN + RecordKeyLen(rec) + ((rec[3] & kHasTimeout) ? 2 * MNL_ALIGN(MNL_ATTR_HDRLEN + 8) : 0);
}

// "delete 198.18.0.1 . tcp . 40000 . 198.18.0.2 . 443", for error messages only.
std::string OpText(const uint8_t* rec) { return std::string(VerbName(rec[0])) + " " + RecordTupleText(rec); }

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
struct Refusal : NlAck {
  bool any = false;
  size_t message = 0;  // index into messages_
};

class ElementWriter {
 public:
  // `counted`: count * kCountedOut numbers for the removals' notices (see
  // the top of this file), or nullptr.
  void Apply(Napi::Env env, const std::string& table, uint8_t family, const std::vector<std::string>& sets,
             const uint8_t* records, uint32_t count, double* counted) {
    table_ = &table;
    family_ = family;
    sets_ = &sets;
    records_ = records;
    count_ = count;
    counted_ = counted;
    sock_ = &EnvElementSocket(env);
    sock_->Open(env, "nftApplyElements", "NFT_WRITE");
    if (counted_ != nullptr) {
      sock_->GrowRecv(kEchoRecvBuf);
      for (uint32_t i = 0; i < count; i++) {
        double* o = counted_ + static_cast<size_t>(i) * kCountedOut;
        o[0] = 0, o[1] = 0, o[2] = 0, o[3] = -1;
      }
      noticeCursor_ = 0;
    }
    Build(Plan(count));
    Send(env);
    Receive(env);
  }

 private:
  // Cuts the ops into messages; returns the batch's size in bytes.
  size_t Plan(uint32_t count) {
    messages_.clear();
    elementAt_.resize(count);
    size_t total = 2 * MNL_ALIGN(NLMSG_HDRLEN + sizeof(struct nfgenmsg));  // BEGIN, END
    for (uint32_t i = 0; i < count; i++) {
      const uint8_t* rec = records_ + i * kRecordBytes;
      const size_t bytes = ElementBytes(rec);
      const uint16_t set = RecordSet(rec);
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
    seqBegin_ = sock_->Reserve(static_cast<uint32_t>(messages_.size()) + 2);
    char* p = buf_.data();
    struct nlmsghdr* nlh = nftnl_batch_begin(p, seqBegin_);
    p += nlh->nlmsg_len;
    uint8_t key[kKeyLenV6];
    for (size_t m = 0; m < messages_.size(); m++) {
      Message& msg = messages_[m];
      const uint16_t type = msg.verb == kAdd      ? static_cast<uint16_t>(NFT_MSG_NEWSETELEM)
                            : msg.verb == kDelete ? static_cast<uint16_t>(NFT_MSG_DELSETELEM)
                                                  : kMsgDestroySetElem;
      // NLM_F_CREATE as `nft add element` sends it; without NLM_F_EXCL, adding
      // an element that exists is no error.
      const uint16_t flags = msg.verb == kAdd ? NLM_F_CREATE : counted_ != nullptr ? NLM_F_ECHO : 0;
      nlh = nftnl_nlmsg_build_hdr(p, type, family_, flags, SeqOf(m));
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

  std::string Where() const { return std::string("nftApplyElements: table ") + NftFamilyName(family_) + " " + *table_; }

  void Send(Napi::Env env) {
    // The whole batch must be one datagram (BEGIN and END in one skb).
    sock_->FitSend(batchBytes_);
    const int e = sock_->Send(buf_.data(), batchBytes_);
    if (e == 0) return;
    const std::string why = e == EMSGSIZE ? " (the batch, " + std::to_string(batchBytes_) +
                                                " bytes, is larger than the socket's send buffer could be made: send fewer ops per call)"
                                          : "";
    Fail(env, "NFT_WRITE", Where() + ": netlink sendto failed: " + ErrnoText(e) + why + "; nothing was changed", {e});
  }

  void Receive(Napi::Env env) {
    const uint32_t span = SeqEnd() - seqBegin_;
    bool endAcked = false, lost = false;
    int batchErr = 0;
    size_t refusedMessages = 0;
    Refusal first;
    const int e = sock_->Drain(
        [&](const struct nlmsghdr* nlh) {
          if (counted_ != nullptr && IsRemovalNotice(nlh)) {
            TakeNotice(nlh);
            return true;
          }
          if (nlh->nlmsg_type != NLMSG_ERROR) return true;
          const uint32_t d = nlh->nlmsg_seq - seqBegin_;  // wraps like the sequence numbers
          if (d > span) return true;                      // an answer to an earlier call
          Refusal r;
          static_cast<NlAck&>(r) = ParseAck(nlh);
          if (r.err == 0) {
            if (d == span) endAcked = true;
            return !endAcked;  // END's ack is the last answer
          }
          if (d == 0 || d == span) {
            // Refused as a whole (EPERM, a failed commit, ...): the kernel
            // answers to BEGIN.
            if (batchErr == 0) batchErr = r.err;
            return true;
          }
          refusedMessages++;
          if (!first.any || d - 1 < first.message) {
            r.any = true;
            r.message = d - 1;
            first = r;
          }
          return true;
        },
        &lost);
    if (e != 0) {
      Fail(env, "NFT_WRITE", Where() + ": netlink recv failed: " + ErrnoText(e) + "; whether the batch was applied is unknown", {e});
    }
    if (endAcked) kernelAcksEnd_ = true;
    if (first.any) FailOnMessage(env, first, refusedMessages);
    if (batchErr != 0) {
      std::string hint = batchErr == EPERM ? " (needs CAP_NET_ADMIN in the network namespace)" : "";
      Fail(env, "NFT_WRITE", Where() + ": the kernel refused the batch: " + ErrnoText(batchErr) + hint + "; nothing was changed", {batchErr});
    }
    if (lost && counted_ != nullptr) {
      Fail(env, "NFT_WRITE", Where() + ": notices of removed elements were lost (receive buffer full): " +
                                 (endAcked ? "the elements were removed, " : "whether the elements were removed is unknown, ") +
                                 "what they counted is unknown", {ENOBUFS});
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

  static bool IsRemovalNotice(const struct nlmsghdr* nlh) {
    return nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM) ||
           nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | kMsgDestroySetElem);
  }

  // A removed element's notice: its counter goes to the op that removed it.
  // The kernel sends them in the order of the ops, so the search starts
  // after the last op found.
  void TakeNotice(const struct nlmsghdr* nlh) {
    const char* set = nullptr;
    const struct nlattr* list = ElementList(nlh, &set);
    if (list == nullptr || set == nullptr) return;
    ForEachNested(list, [&](const struct nlattr* elem) {
      ElementAttrs el;
      if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM || !ParseElement(elem, &el) || el.key == nullptr) return;
      for (uint32_t n = 0; n < count_; n++) {
        const uint32_t i = (noticeCursor_ + n) % count_;
        const uint8_t* rec = records_ + static_cast<size_t>(i) * kRecordBytes;
        if (rec[0] == kAdd || (*sets_)[RecordSet(rec)] != set) continue;
        uint8_t key[kKeyLenV6];
        const size_t keyLen = BuildKey(rec, key);
        if (el.keyLen != keyLen || memcmp(el.key, key, keyLen) != 0) continue;
        double* o = counted_ + static_cast<size_t>(i) * kCountedOut;
        o[0] = 1;
        o[1] = static_cast<double>(el.packets);
        o[2] = static_cast<double>(el.bytes);
        noticeCursor_ = i + 1;
        return;
      }
    });
  }

  [[noreturn]] void FailOnMessage(Napi::Env env, const Refusal& r, size_t refusedMessages) {
    const Message& m = messages_[r.message];
    const std::string& set = (*sets_)[m.set];
    const std::string family = NftFamilyName(family_);
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

  ElementSocket* sock_ = nullptr;
  bool kernelAcksEnd_ = false;  // a batch END was acknowledged once (kernel >= 6.10)
  std::vector<char> buf_;
  std::vector<Message> messages_;
  std::vector<uint32_t> elementAt_;  // per op: offset of its NFTA_LIST_ELEM in its message
  uint32_t seqBegin_ = 0;
  size_t batchBytes_ = 0;
  // The current call's arguments.
  const std::string* table_ = nullptr;
  const std::vector<std::string>* sets_ = nullptr;
  const uint8_t* records_ = nullptr;
  uint32_t count_ = 0;
  double* counted_ = nullptr;
  uint32_t noticeCursor_ = 0;  // counted removals: the op after the last one noticed
  uint8_t family_ = NFPROTO_INET;
};

// Records come from src/setWrite.ts, which checks every field with the op's
// index; this only keeps a malformed record from reaching the kernel.
void CheckRecords(Napi::Env env, const uint8_t* records, uint32_t count, size_t sets) {
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* r = records + i * kRecordBytes;
    const bool ok = r[0] <= kDestroy && RecordTupleOk(r, sets) && (!(r[3] & kHasTimeout) || (r[0] == kAdd && U32le(r + 12) > 0));
    if (!ok) Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: malformed op record " + std::to_string(i), {0, -1, i});
  }
}

}  // namespace

// nftApplyElements(table, nfproto, sets: string[], records: Uint8Array, count, counted?: boolean):
// undefined, or with `counted` (at most kMaxCountedOps ops) a Float64Array of
// count * 4 numbers: [found (1|0), packets, bytes, -1] per op, what a delete
// or destroy removed (adds: found 0). Throws NFT_WRITE (errno, index = the op
// at fault) when the kernel refuses the batch — which then changed nothing.
static Napi::Value NftApplyElements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* writer = static_cast<ElementWriter*>(info.Data());
  const ElementCall call = ReadElementCall(info, "nftApplyElements", "ops", kMaxOps);
  const bool counted = ReadBool(env, info[5], "nftApplyElements: counted", false);
  if (counted && call.count > kMaxCountedOps) {
    Fail(env, "NFQ_INVALID_ARGUMENT", "nftApplyElements: at most " + std::to_string(kMaxCountedOps) + " counted ops per call");
  }
  CheckRecords(env, call.records, call.count, call.sets.size());
  if (!counted) {
    if (call.count > 0) writer->Apply(env, call.table, call.family, call.sets, call.records, call.count, nullptr);
    return env.Undefined();
  }
  Napi::Float64Array out = Napi::Float64Array::New(env, static_cast<size_t>(call.count) * kCountedOut);
  if (call.count > 0) writer->Apply(env, call.table, call.family, call.sets, call.records, call.count, out.Data());
  return out;
}

void InitSetWrite(Napi::Env env, Napi::Object exports) {
  // One writer per environment, freed at its teardown.
  auto* writer = new ElementWriter();
  napi_add_env_cleanup_hook(env, [](void* w) { delete static_cast<ElementWriter*>(w); }, writer);
  exports.Set("nftApplyElements", Napi::Function::New<NftApplyElements>(env, "nftApplyElements", writer));
}

}  // namespace l7nfq
