// Conntrack mark updates over ctnetlink.
//
// Messages are built with libnetfilter_conntrack (nfct_nlmsg_build: orig
// tuple + CTA_MARK) and sent on a libmnl socket, so we can append
// CTA_MARK_MASK ourselves: libnetfilter_conntrack 1.0.9 has no object
// attribute for it (ATTR_MARK_MASK does not exist; nfct_query(NFCT_Q_UPDATE)
// would replace the whole mark). With CTA_MARK_MASK the kernel computes
//   newmark = (oldmark & ~mask) ^ mark
// atomically (ctnetlink_change_mark), so with mark already masked only the
// masked bits change — no read-modify-write race with the datapath.
//
// IPCTNL_MSG_CT_NEW without NLM_F_CREATE updates an existing entry and fails
// with ENOENT when there is none. Many updates go out in one sendto(), each
// acked (NLM_F_ACK) with its own sequence number.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common.h"
#include "ctnetlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace l7nfq {

AddonData::~AddonData() {
  if (ct != nullptr) mnl_socket_close(ct);
  FreeNftContext(nft);
  FreeElementSocket(elementSocket);
}

namespace {

constexpr size_t kMsgSlot = 512;      // one CT_NEW message: header + tuple (IPv6) + mark + mask + zone
constexpr size_t kChunk = 128;        // messages per sendto()
constexpr size_t kMaxEntries = 1u << 20;

struct CtEntry {
  uint8_t family;  // AF_INET / AF_INET6
  uint8_t proto;
  unsigned char src[16];
  unsigned char dst[16];
  uint16_t sport, dport;
  bool hasZone;
  uint16_t zone;
};

struct mnl_socket* CtSocket(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data->ct != nullptr) return data->ct;
  struct mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl == nullptr) {
    const int e = errno;
    Fail(env, "CT_SOCKET", "ctnetlink: socket(AF_NETLINK, NETLINK_NETFILTER) failed: " + ErrnoText(e), {e});
  }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl);
    Fail(env, "CT_SOCKET", "ctnetlink: bind() failed: " + ErrnoText(e), {e});
  }
  const int fd = mnl_socket_get_fd(nl);
  struct timeval tv = {2, 0};  // never wait for an ack forever
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);  // short acks (best effort)
  int rcv = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  data->ct = nl;
  return nl;
}

CtEntry ReadEntry(Napi::Env env, Napi::Value v, size_t i) {
  const std::string w = "conntrack entry [" + std::to_string(i) + "]";
  if (!v.IsObject()) Fail(env, "NFQ_INVALID_ARGUMENT", w + " must be an object", {0, -1, static_cast<int64_t>(i)});
  Napi::Object o = v.As<Napi::Object>();
  CtEntry e = {};
  const uint32_t fam = ReadU32(env, o.Get("family"), w + ".family", 4, 6);
  if (fam != 4 && fam != 6) Fail(env, "NFQ_INVALID_ARGUMENT", w + ".family must be 4 or 6, got " + std::to_string(fam));
  e.family = fam == 4 ? AF_INET : AF_INET6;
  const uint32_t proto = ReadU32(env, o.Get("protocol"), w + ".protocol", 0, 255);
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP && proto != IPPROTO_UDPLITE) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         w + ".protocol must be 6 (TCP), 17 (UDP), 132 (SCTP) or 136 (UDP-Lite), got " + std::to_string(proto));
  }
  e.proto = static_cast<uint8_t>(proto);
  auto addr = [&](const char* name, unsigned char* out) {
    Napi::Value a = o.Get(name);
    if (!a.IsString()) Fail(env, "NFQ_INVALID_ARGUMENT", w + "." + name + " must be an IP address string");
    const std::string s = a.As<Napi::String>().Utf8Value();
    if (inet_pton(e.family, s.c_str(), out) != 1) {
      Fail(env, "NFQ_INVALID_ARGUMENT",
           w + "." + name + " '" + s + "' is not an IPv" + std::to_string(fam) + " address");
    }
  };
  addr("src", e.src);
  addr("dst", e.dst);
  e.sport = static_cast<uint16_t>(ReadU32(env, o.Get("sport"), w + ".sport", 0, 65535));
  e.dport = static_cast<uint16_t>(ReadU32(env, o.Get("dport"), w + ".dport", 0, 65535));
  Napi::Value z = o.Get("zone");
  if (!z.IsUndefined() && !z.IsNull()) {
    e.hasZone = true;
    e.zone = static_cast<uint16_t>(ReadU32(env, z, w + ".zone", 0, 65535));
  }
  return e;
}

// Appends one masked mark update for `e` at `at`; returns its length.
size_t BuildUpdate(Napi::Env env, char* at, const CtEntry& e, uint32_t mark, uint32_t mask, uint32_t seq) {
  struct nlmsghdr* nlh = mnl_nlmsg_put_header(at);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;  // no NLM_F_CREATE: update only
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<struct nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg)));
  nfg->nfgen_family = e.family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;

  std::unique_ptr<struct nf_conntrack, void (*)(struct nf_conntrack*)> ct(nfct_new(), nfct_destroy);
  if (!ct) Fail(env, "CT_UPDATE", "nfct_new failed: out of memory", {ENOMEM});
  SetOriginalTuple(ct.get(), e);
  nfct_set_attr_u32(ct.get(), ATTR_MARK, mark & mask);
  if (nfct_nlmsg_build(nlh, ct.get()) < 0) {
    const int err = errno;
    Fail(env, "CT_UPDATE", "nfct_nlmsg_build failed: " + ErrnoText(err), {err});
  }
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
  return nlh->nlmsg_len;
}

}  // namespace

// setConntrackMarks(entries: object[], marks: Uint32Array, masks: Uint32Array)
//   -> Int32Array: 0 = updated, otherwise the errno the kernel answered
//      (ENOENT = no such entry). Socket-level failures throw CT_UPDATE.
static Napi::Value SetConntrackMarks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) Fail(env, "NFQ_INVALID_ARGUMENT", "setConntrackMarks: entries must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  const size_t n = arr.Length();
  if (n > kMaxEntries) Fail(env, "NFQ_INVALID_ARGUMENT", "setConntrackMarks: too many entries");
  auto u32s = [&](Napi::Value v, const char* name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      Fail(env, "NFQ_INVALID_ARGUMENT", std::string("setConntrackMarks: ") + name + " must be a Uint32Array");
    }
    auto t = v.As<Napi::Uint32Array>();
    if (t.ElementLength() != n) {
      Fail(env, "NFQ_INVALID_ARGUMENT", std::string("setConntrackMarks: ") + name + " has " +
                                            std::to_string(t.ElementLength()) + " elements but entries has " +
                                            std::to_string(n));
    }
    return t;
  };
  Napi::Uint32Array marks = u32s(info[1], "marks");
  Napi::Uint32Array masks = u32s(info[2], "masks");
  std::vector<CtEntry> entries;
  entries.reserve(n);
  for (size_t i = 0; i < n; i++) entries.push_back(ReadEntry(env, arr.Get(i), i));

  Napi::Int32Array results = Napi::Int32Array::New(env, n);
  if (n == 0) return results;
  struct mnl_socket* nl = CtSocket(env);
  auto* data = env.GetInstanceData<AddonData>();
  std::vector<char> tx(kMsgSlot * kChunk);
  std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE * 4);

  for (size_t start = 0; start < n; start += kChunk) {
    const size_t count = std::min(kChunk, n - start);
    // Sequence numbers base+1 .. base+count identify the entries of this chunk.
    if (data->ctSeq > 0xffffffffu - kChunk - 1) data->ctSeq = 0;
    const uint32_t base = data->ctSeq;
    data->ctSeq += static_cast<uint32_t>(count);
    size_t len = 0;
    for (size_t k = 0; k < count; k++) {
      const size_t i = start + k;
      len += BuildUpdate(env, tx.data() + len, entries[i], marks[i], masks[i], base + 1 + static_cast<uint32_t>(k));
    }
    std::vector<bool> acked(count, false);
    size_t pending = count;
    if (mnl_socket_sendto(nl, tx.data(), len) < 0) {
      const int e = errno;
      Fail(env, "CT_UPDATE", "ctnetlink: sendto failed: " + ErrnoText(e), {e, -1, static_cast<int64_t>(start)});
    }
    while (pending > 0) {
      const ssize_t r = mnl_socket_recvfrom(nl, rx.data(), rx.size());
      if (r < 0) {
        const int e = errno;
        if (e == EINTR) continue;
        const bool timeout = e == EAGAIN || e == EWOULDBLOCK;
        Fail(env, "CT_UPDATE",
             "ctnetlink: " + std::string(timeout ? "no answer from the kernel within 2 s" : "recv failed: " + ErrnoText(e)) +
                 " (" + std::to_string(pending) + " of " + std::to_string(count) + " updates unanswered)",
             {timeout ? ETIMEDOUT : e});
      }
      const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(rx.data());
      int rem = static_cast<int>(r);
      while (mnl_nlmsg_ok(nlh, rem)) {
        if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
          const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
          const uint32_t seq = e->msg.nlmsg_seq;
          if (seq > base && seq <= base + count && !acked[seq - base - 1]) {
            acked[seq - base - 1] = true;
            results[start + (seq - base - 1)] = -e->error;
            pending--;
          }
        }
        nlh = mnl_nlmsg_next(nlh, &rem);
      }
    }
  }
  return results;
}

void InitConntrack(Napi::Env env, Napi::Object exports) {
  exports.Set("setConntrackMarks", Napi::Function::New<SetConntrackMarks>(env, "setConntrackMarks"));
}

}  // namespace l7nfq
