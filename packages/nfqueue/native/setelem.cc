// Shared by the 5-tuple set element code (setelem.h): argument readers, the
// element record and its key, extended acks, element attributes, and the
// environment's nf_tables socket.
#include "setelem.h"

#include <arpa/inet.h>
#include <endian.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "common.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace l7nfq {

namespace {

bool Be64(const struct nlattr* a, uint64_t* out) {
  if (mnl_attr_get_payload_len(a) < sizeof(uint64_t)) return false;
  uint64_t v;
  memcpy(&v, mnl_attr_get_payload(a), sizeof v);
  *out = be64toh(v);
  return true;
}

// An expression (NFTA_EXPR_NAME, NFTA_EXPR_DATA): its counts if it is a
// counter. true when it was one.
bool ReadCounter(const struct nlattr* expr, ElementAttrs* out) {
  const struct nlattr* data = nullptr;
  bool counter = false;
  ForEachNested(expr, [&](const struct nlattr* a) {
    const uint16_t type = mnl_attr_get_type(a);
    if (type == NFTA_EXPR_NAME) {
      counter = mnl_attr_get_payload_len(a) >= sizeof "counter" &&
                memcmp(mnl_attr_get_payload(a), "counter", sizeof "counter") == 0;
    } else if (type == NFTA_EXPR_DATA) {
      data = a;
    }
  });
  if (!counter || data == nullptr) return false;
  ForEachNested(data, [&](const struct nlattr* a) {
    const uint16_t type = mnl_attr_get_type(a);
    if (type == NFTA_COUNTER_PACKETS) Be64(a, &out->packets);
    if (type == NFTA_COUNTER_BYTES) Be64(a, &out->bytes);
  });
  return true;
}

}  // namespace

const char* NftFamilyName(uint8_t family) {
  switch (family) {
    case NFPROTO_INET: return "inet";
    case NFPROTO_IPV4: return "ip";
    case NFPROTO_IPV6: return "ip6";
    default: return "?";
  }
}

std::string ReadNftName(Napi::Env env, Napi::Value v, const char* fn, const std::string& what) {
  if (!v.IsString()) Fail(env, "NFQ_INVALID_ARGUMENT", std::string(fn) + ": " + what + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  // NFT_NAME_MAXLEN (256) includes the terminating NUL.
  if (s.empty() || s.size() > NFT_NAME_MAXLEN - 1 || s.find('\0') != std::string::npos) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         std::string(fn) + ": " + what + " must be 1.." + std::to_string(NFT_NAME_MAXLEN - 1) + " characters without NUL");
  }
  return s;
}

uint8_t ReadNftFamily(Napi::Env env, Napi::Value v, const char* fn) {
  const uint32_t family = ReadU32(env, v, std::string(fn) + ": family", 0, 255);
  if (family != NFPROTO_INET && family != NFPROTO_IPV4 && family != NFPROTO_IPV6) {
    Fail(env, "NFQ_INVALID_ARGUMENT", std::string(fn) + ": family must be NFPROTO_INET, NFPROTO_IPV4 or NFPROTO_IPV6");
  }
  return static_cast<uint8_t>(family);
}

ElementCall ReadElementCall(const Napi::CallbackInfo& info, const char* fn, const char* items, uint32_t maxCount) {
  Napi::Env env = info.Env();
  const std::string f(fn);
  ElementCall call;
  call.table = ReadNftName(env, info[0], fn, "table");
  call.family = ReadNftFamily(env, info[1], fn);
  if (!info[2].IsArray()) Fail(env, "NFQ_INVALID_ARGUMENT", f + ": sets must be an array of set names");
  Napi::Array names = info[2].As<Napi::Array>();
  if (names.Length() > 0xffff) Fail(env, "NFQ_INVALID_ARGUMENT", f + ": at most 65535 sets per call");
  call.sets.reserve(names.Length());
  for (uint32_t i = 0; i < names.Length(); i++) call.sets.push_back(ReadNftName(env, names.Get(i), fn, "set name"));
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Fail(env, "NFQ_INVALID_ARGUMENT", f + ": records must be a Uint8Array");
  }
  Napi::Uint8Array records = info[3].As<Napi::Uint8Array>();
  call.count = ReadU32(env, info[4], f + ": count", 0, maxCount);
  if (records.ByteLength() < static_cast<size_t>(call.count) * kRecordBytes) {
    Fail(env, "NFQ_INVALID_ARGUMENT", f + ": records hold fewer than count " + items);
  }
  call.records = records.Data();
  return call;
}

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

bool RecordTupleOk(const uint8_t* rec, size_t sets) {
  return (rec[1] == 4 || rec[1] == 16) && (rec[2] == IPPROTO_TCP || rec[2] == IPPROTO_UDP) && RecordSet(rec) < sets;
}

void AppendAddress(std::string& out, const uint8_t* a, bool v6) {
  if (v6) {
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, text, sizeof text);
    out += text;
    return;
  }
  // glibc's inet_ntop formats IPv4 with sprintf: too slow for a dump.
  for (int i = 0; i < 4; i++) {
    if (i > 0) out += '.';
    const unsigned v = a[i];
    if (v >= 100) out += static_cast<char>('0' + v / 100);
    if (v >= 10) out += static_cast<char>('0' + v / 10 % 10);
    out += static_cast<char>('0' + v % 10);
  }
}

std::string RecordTupleText(const uint8_t* rec) {
  const bool v6 = rec[1] == 16;
  std::string out;
  AppendAddress(out, rec + 16, v6);
  out += rec[2] == IPPROTO_TCP ? " . tcp . " : rec[2] == IPPROTO_UDP ? " . udp . " : " . " + std::to_string(rec[2]) + " . ";
  out += std::to_string(rec[6] << 8 | rec[7]) + " . ";
  AppendAddress(out, rec + 32, v6);
  out += " . " + std::to_string(rec[8] << 8 | rec[9]);
  return out;
}

NlAck ParseAck(const struct nlmsghdr* nlh) {
  NlAck r;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr)) {
    r.err = EPROTO;
    return r;
  }
  const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  r.err = -e->error;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return r;
  size_t off = sizeof(struct nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
  const char* base = static_cast<const char*>(mnl_nlmsg_get_payload(nlh));
  const size_t total = nlh->nlmsg_len - NLMSG_HDRLEN;
  if (off >= total) return r;
  ForEachAttr(base + off, base + total, [&](const struct nlattr* a) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS && mnl_attr_get_payload_len(a) >= 4) {
      r.attrAt = mnl_attr_get_u32(a);
    } else if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
      r.kernelText = mnl_attr_get_str(a);
    }
  });
  return r;
}

bool ParseElement(const struct nlattr* elem, ElementAttrs* out) {
  *out = ElementAttrs{};
  bool ok = true;
  ForEachNested(elem, [&](const struct nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case NFTA_SET_ELEM_KEY:
        ForEachNested(a, [&](const struct nlattr* v) {
          if (mnl_attr_get_type(v) != NFTA_DATA_VALUE) return;
          out->key = static_cast<const uint8_t*>(mnl_attr_get_payload(v));
          out->keyLen = mnl_attr_get_payload_len(v);
        });
        break;
      case NFTA_SET_ELEM_FLAGS:
        if (mnl_attr_get_payload_len(a) < 4) {
          ok = false;
        } else {
          out->flags = ntohl(mnl_attr_get_u32(a));
        }
        break;
      case NFTA_SET_ELEM_EXPIRATION:
        out->hasExpiration = Be64(a, &out->expirationMs);
        if (!out->hasExpiration) ok = false;
        break;
      case NFTA_SET_ELEM_EXPR:  // the set's one expression
        ReadCounter(a, out);
        break;
      case NFTA_SET_ELEM_EXPRESSIONS: {  // several: the first counter
        bool found = false;
        ForEachNested(a, [&](const struct nlattr* x) {
          if (!found && mnl_attr_get_type(x) == NFTA_LIST_ELEM) found = ReadCounter(x, out);
        });
        break;
      }
      default:
        break;
    }
  });
  return ok;
}

const struct nlattr* ElementList(const struct nlmsghdr* nlh, const char** set) {
  if (set != nullptr) *set = nullptr;
  if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_NFTABLES || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg)) return nullptr;
  const uint16_t type = nlh->nlmsg_type & 0xff;
  if (type != NFT_MSG_NEWSETELEM && type != NFT_MSG_DELSETELEM && type != kMsgDestroySetElem) return nullptr;
  const struct nlattr* list = nullptr;
  ForEachAttr(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg)), mnl_nlmsg_get_payload_tail(nlh),
              [&](const struct nlattr* a) {
                if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS) list = a;
                if (set != nullptr && mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
                  *set = mnl_attr_get_str(a);
                }
              });
  return list;
}

ElementSocket::~ElementSocket() {
  if (nl_ != nullptr) mnl_socket_close(nl_);
}

void ElementSocket::Open(Napi::Env env, const char* fn, const char* code) {
  if (nl_ != nullptr) return;
  struct mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl == nullptr) {
    const int e = errno;
    Fail(env, code, std::string(fn) + ": socket(AF_NETLINK, NETLINK_NETFILTER) failed: " + ErrnoText(e), {e});
  }
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl);
    Fail(env, code, std::string(fn) + ": netlink bind() failed: " + ErrnoText(e), {e});
  }
  const int fd = mnl_socket_get_fd(nl);
  int one = 1;
  // Errors name the attribute at fault, and do not echo our (up to
  // megabytes of) request back.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  socklen_t len = sizeof sndbuf_;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
  len = sizeof rcvbuf_;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, &len);
  nl_ = nl;
}

void ElementSocket::FitSend(size_t bytes) {
  // Netlink refuses a datagram larger than the send buffer less 32 bytes.
  if (bytes + 32 <= static_cast<size_t>(sndbuf_)) return;
  const int fd = mnl_socket_get_fd(nl_);
  const int want = static_cast<int>(bytes + 64);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);  // capped by net.core.wmem_max
  }
  socklen_t len = sizeof sndbuf_;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_, &len);
}

int ElementSocket::GrowRecv(int bytes) {
  if (rcvbuf_ >= bytes) return rcvbuf_;
  const int fd = mnl_socket_get_fd(nl_);
  const int want = bytes / 2;  // the kernel doubles it (for its overhead), and reports the double
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);  // capped by net.core.rmem_max
  }
  socklen_t len = sizeof rcvbuf_;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, &len);
  return rcvbuf_;
}

int ElementSocket::Send(const void* buf, size_t len) {
  for (;;) {
    if (mnl_socket_sendto(nl_, buf, len) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

int ElementSocket::RecvSome(bool* lost) {
  if (msgs_.empty()) {
    slots_.resize(kSlots * kSlotBytes);
    msgs_.resize(kSlots);
    iovs_.resize(kSlots);
    for (size_t i = 0; i < kSlots; i++) {
      iovs_[i] = {slots_.data() + i * kSlotBytes, kSlotBytes};
      msgs_[i] = {};
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }
  const int fd = mnl_socket_get_fd(nl_);
  for (;;) {
    const int n = recvmmsg(fd, msgs_.data(), kSlots, MSG_DONTWAIT, nullptr);
    if (n >= 0) return n;
    const int e = errno;
    if (e == EINTR) continue;
    if (e == ENOBUFS) {  // answers were dropped (the receive buffer was full); what was queued follows
      *lost = true;
      continue;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    return -e;
  }
}

ElementSocket& EnvElementSocket(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data->elementSocket == nullptr) data->elementSocket = new ElementSocket();
  return *data->elementSocket;
}

void FreeElementSocket(ElementSocket* s) { delete s; }

}  // namespace l7nfq
