// Conntrack entries: parsing ctnetlink messages into CtRecord (libmnl),
// their column-wise form for JS, and tuples and protocol filters read from
// JS. Shared by ctquery.cc and ctevents.cc.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <endian.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common.h"
#include "ctnetlink.h"

namespace l7nfq {

namespace {

const char* ProtoName(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_SCTP: return "sctp";
    case IPPROTO_UDPLITE: return "udplite";
    default: return nullptr;
  }
}

// The attributes of a nested attribute (or of the message), walked once:
// at most one of each type counts, the last one seen. No allocation: the
// event thread parses up to a few hundred thousand messages a second
// (libnetfilter_conntrack's nfct_nlmsg_parse allocates and clears a whole
// nf_conntrack per message, and was the reader's largest cost).
template <size_t N>
struct Attrs {
  const struct nlattr* at[N + 1] = {};
  void Nested(const struct nlattr* nest) {
    Walk(static_cast<const char*>(mnl_attr_get_payload(nest)), mnl_attr_get_payload_len(nest));
  }
  void Message(const struct nlmsghdr* nlh, size_t offset) {
    const char* from = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, offset));
    const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    if (tail > from) Walk(from, static_cast<size_t>(tail - from));
  }
  void Walk(const char* p, size_t len) {
    int rem = static_cast<int>(len);
    for (auto* a = reinterpret_cast<const struct nlattr*>(p); mnl_attr_ok(a, rem);) {
      const uint16_t t = mnl_attr_get_type(a);
      if (t <= N) at[t] = a;
      rem -= static_cast<int>(MNL_ALIGN(a->nla_len));
      a = reinterpret_cast<const struct nlattr*>(reinterpret_cast<const char*>(a) + MNL_ALIGN(a->nla_len));
    }
  }
  // The attribute if its payload has at least `len` bytes.
  const struct nlattr* Get(unsigned t, size_t len) const {
    const struct nlattr* a = at[t];
    return a != nullptr && mnl_attr_get_payload_len(a) >= len ? a : nullptr;
  }
};

uint16_t Be16(const struct nlattr* a) { return ntohs(mnl_attr_get_u16(a)); }
uint32_t Be32(const struct nlattr* a) { return ntohl(mnl_attr_get_u32(a)); }
uint64_t Be64(const struct nlattr* a) { return be64toh(mnl_attr_get_u64(a)); }

// CTA_TUPLE_ORIG / _REPLY: { CTA_TUPLE_IP { addresses }, CTA_TUPLE_PROTO { number, ports } }.
bool ParseTuple(const struct nlattr* nest, bool v6, uint8_t* proto, uint8_t* src, uint8_t* dst, uint16_t* sport,
                uint16_t* dport) {
  Attrs<CTA_TUPLE_MAX> t;
  t.Nested(nest);
  const struct nlattr* ip = t.Get(CTA_TUPLE_IP, 0);
  const struct nlattr* pr = t.Get(CTA_TUPLE_PROTO, 0);
  if (ip == nullptr || pr == nullptr) return false;
  Attrs<CTA_IP_MAX> a;
  a.Nested(ip);
  const size_t alen = v6 ? 16 : 4;
  const struct nlattr* s = a.Get(v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, alen);
  const struct nlattr* d = a.Get(v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, alen);
  if (s == nullptr || d == nullptr) return false;
  memcpy(src, mnl_attr_get_payload(s), alen);
  memcpy(dst, mnl_attr_get_payload(d), alen);
  Attrs<CTA_PROTO_MAX> p;
  p.Nested(pr);
  const struct nlattr* num = p.Get(CTA_PROTO_NUM, 1);
  if (num == nullptr) return false;
  *proto = mnl_attr_get_u8(num);
  const struct nlattr* sp = p.Get(CTA_PROTO_SRC_PORT, 2);
  const struct nlattr* dp = p.Get(CTA_PROTO_DST_PORT, 2);
  *sport = sp != nullptr ? Be16(sp) : 0;
  *dport = dp != nullptr ? Be16(dp) : 0;
  return true;
}

// CTA_COUNTERS_*: 64-bit counters (or the old 32-bit ones).
bool ParseCounters(const struct nlattr* nest, uint64_t* packets, uint64_t* bytes) {
  Attrs<CTA_COUNTERS_MAX> c;
  c.Nested(nest);
  const struct nlattr* p64 = c.Get(CTA_COUNTERS_PACKETS, 8);
  const struct nlattr* b64 = c.Get(CTA_COUNTERS_BYTES, 8);
  if (p64 != nullptr && b64 != nullptr) {
    *packets = Be64(p64);
    *bytes = Be64(b64);
    return true;
  }
  const struct nlattr* p32 = c.Get(CTA_COUNTERS32_PACKETS, 4);
  const struct nlattr* b32 = c.Get(CTA_COUNTERS32_BYTES, 4);
  if (p32 != nullptr && b32 != nullptr) {
    *packets = Be32(p32);
    *bytes = Be32(b32);
    return true;
  }
  return false;
}

}  // namespace

bool ParseCtRecord(const struct nlmsghdr* nlh, CtRecord* out) {
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK) return false;
  const uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
  if (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE) return false;
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) return false;
  const auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6) return false;
  const bool v6 = nfg->nfgen_family == AF_INET6;
  Attrs<CTA_MAX> m;
  m.Message(nlh, sizeof(struct nfgenmsg));
  const struct nlattr* orig = m.Get(CTA_TUPLE_ORIG, 0);
  const struct nlattr* repl = m.Get(CTA_TUPLE_REPLY, 0);
  if (orig == nullptr || repl == nullptr) return false;
  CtRecord r;
  r.family = nfg->nfgen_family;
  uint8_t replProto = 0;
  if (!ParseTuple(orig, v6, &r.proto, r.origSrc, r.origDst, &r.origSport, &r.origDport)) return false;
  if (!ParseTuple(repl, v6, &replProto, r.replSrc, r.replDst, &r.replSport, &r.replDport)) return false;
  if (const struct nlattr* a = m.Get(CTA_ZONE, 2)) {
    r.hasZone = true;
    r.zone = Be16(a);
  }
  if (const struct nlattr* a = m.Get(CTA_MARK, 4)) r.mark = Be32(a);
  if (const struct nlattr* a = m.Get(CTA_ID, 4)) r.id = Be32(a);
  if (const struct nlattr* a = m.Get(CTA_STATUS, 4)) r.status = Be32(a);
  if (const struct nlattr* a = m.Get(CTA_TIMEOUT, 4)) {
    r.hasTimeout = true;
    r.timeout = Be32(a);
  }
  const struct nlattr* co = m.Get(CTA_COUNTERS_ORIG, 0);
  const struct nlattr* cr = m.Get(CTA_COUNTERS_REPLY, 0);
  if (co != nullptr && cr != nullptr && ParseCounters(co, &r.origPackets, &r.origBytes) &&
      ParseCounters(cr, &r.replPackets, &r.replBytes)) {
    r.hasCounters = true;
  }
  if (const struct nlattr* ts = m.Get(CTA_TIMESTAMP, 0)) {
    Attrs<CTA_TIMESTAMP_MAX> t;
    t.Nested(ts);
    if (const struct nlattr* a = t.Get(CTA_TIMESTAMP_START, 8)) {
      r.hasStart = true;
      r.startNs = Be64(a);
    }
    if (const struct nlattr* a = t.Get(CTA_TIMESTAMP_STOP, 8)) {
      r.hasStop = true;
      r.stopNs = Be64(a);
    }
  }
  *out = r;
  return true;
}

uint32_t CtColumns::AddressIndex(const uint8_t* a, bool v6) {
  std::array<uint8_t, 17> key{};
  key[0] = v6 ? 6 : 4;
  memcpy(key.data() + 1, a, v6 ? 16 : 4);
  if ((keys_.size() + 1) * 2 > slots_.size()) Grow();
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (uint8_t b : key) h = (h ^ b) * 1099511628211ull;
  const size_t mask = slots_.size() - 1;
  for (size_t i = (h ^ (h >> 29)) & mask;; i = (i + 1) & mask) {
    const uint32_t at = slots_[i];
    if (at == 0) {
      keys_.push_back(key);
      slots_[i] = static_cast<uint32_t>(keys_.size());
      AppendAddress(addrs, a, v6);
      offsets.push_back(static_cast<uint32_t>(addrs.size()));
      return slots_[i] - 1;
    }
    if (keys_[at - 1] == key) return at - 1;
  }
}

void CtColumns::Grow() {
  slots_.assign(std::max<size_t>(64, slots_.size() * 2), 0);
  const size_t mask = slots_.size() - 1;
  for (size_t k = 0; k < keys_.size(); k++) {
    uint64_t h = 1469598103934665603ull;
    for (uint8_t b : keys_[k]) h = (h ^ b) * 1099511628211ull;
    size_t i = (h ^ (h >> 29)) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<uint32_t>(k + 1);
  }
}

void CtColumns::Append(const CtRecord& r) {
  const bool v6 = r.family == AF_INET6;
  for (const uint8_t* a : {r.origSrc, r.origDst, r.replSrc, r.replDst}) addrIdx.push_back(AddressIndex(a, v6));
  const size_t at = nums.size();
  nums.resize(at + kCtNums, -1.0);
  double* n = nums.data() + at;
  n[kCtFamily] = v6 ? 6 : 4;
  n[kCtProto] = r.proto;
  n[kCtOrigSport] = r.origSport;
  n[kCtOrigDport] = r.origDport;
  n[kCtReplSport] = r.replSport;
  n[kCtReplDport] = r.replDport;
  if (r.hasZone) n[kCtZone] = r.zone;
  n[kCtMark] = r.mark;
  if (r.hasCounters) {
    // Exact up to 2^53 bytes (8 PiB) per direction.
    n[kCtOrigPackets] = static_cast<double>(r.origPackets);
    n[kCtOrigBytes] = static_cast<double>(r.origBytes);
    n[kCtReplPackets] = static_cast<double>(r.replPackets);
    n[kCtReplBytes] = static_cast<double>(r.replBytes);
  }
  if (r.hasStart) n[kCtStartMs] = static_cast<double>(r.startNs) / 1e6;
  if (r.hasStop) n[kCtStopMs] = static_cast<double>(r.stopNs) / 1e6;
  n[kCtId] = r.id;
  n[kCtStatus] = r.status;
  if (r.hasTimeout) n[kCtTimeout] = r.timeout;
  count++;
}

Napi::Object CtColumns::ToJs(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(count)));
  o.Set("nums", HandOver<double>(env, std::move(nums)));
  o.Set("addrIdx", HandOver<uint32_t>(env, std::move(addrIdx)));
  o.Set("addrs", HandOver<uint8_t>(env, std::move(addrs)));
  o.Set("offsets", HandOver<uint32_t>(env, std::move(offsets)));
  *this = CtColumns();
  return o;
}

CtTuple ReadCtTuple(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) Fail(env, "NFQ_INVALID_ARGUMENT", what + " must be an object");
  Napi::Object o = v.As<Napi::Object>();
  CtTuple t;
  const uint32_t fam = ReadU32(env, o.Get("family"), what + ".family", 4, 6);
  if (fam != 4 && fam != 6) Fail(env, "NFQ_INVALID_ARGUMENT", what + ".family must be 4 or 6, got " + std::to_string(fam));
  t.family = fam == 4 ? AF_INET : AF_INET6;
  const uint32_t proto = ReadU32(env, o.Get("protocol"), what + ".protocol", 0, 255);
  if (ProtoName(static_cast<uint8_t>(proto)) == nullptr) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         what + ".protocol must be 6 (TCP), 17 (UDP), 132 (SCTP) or 136 (UDP-Lite), got " + std::to_string(proto));
  }
  t.proto = static_cast<uint8_t>(proto);
  auto addr = [&](const char* name, uint8_t* out) {
    Napi::Value a = o.Get(name);
    if (!a.IsString()) Fail(env, "NFQ_INVALID_ARGUMENT", what + "." + name + " must be an IP address string");
    const std::string s = a.As<Napi::String>().Utf8Value();
    if (inet_pton(t.family, s.c_str(), out) != 1) {
      Fail(env, "NFQ_INVALID_ARGUMENT", what + "." + name + " '" + s + "' is not an IPv" + std::to_string(fam) + " address");
    }
  };
  addr("src", t.src);
  addr("dst", t.dst);
  t.sport = static_cast<uint16_t>(ReadU32(env, o.Get("sport"), what + ".sport", 0, 65535));
  t.dport = static_cast<uint16_t>(ReadU32(env, o.Get("dport"), what + ".dport", 0, 65535));
  Napi::Value z = o.Get("zone");
  if (!z.IsUndefined() && !z.IsNull()) {
    t.hasZone = true;
    t.zone = static_cast<uint16_t>(ReadU32(env, z, what + ".zone", 0, 65535));
  }
  return t;
}

std::string DescribeCtTuple(const CtTuple& t) {
  const bool v6 = t.family == AF_INET6;
  std::string s = ProtoName(t.proto);
  s += ' ';
  auto endpoint = [&](const uint8_t* a, uint16_t port) {
    if (v6) s += '[';
    AppendAddress(s, a, v6);
    if (v6) s += ']';
    s += ':' + std::to_string(port);
  };
  endpoint(t.src, t.sport);
  s += " -> ";
  endpoint(t.dst, t.dport);
  if (t.hasZone) s += " zone " + std::to_string(t.zone);
  return s;
}

CtProtocolFilter ReadCtProtocols(Napi::Env env, Napi::Value v, const std::string& what) {
  CtProtocolFilter f;
  if (v.IsUndefined() || v.IsNull()) return f;
  if (!v.IsArray()) Fail(env, "NFQ_INVALID_ARGUMENT", what + " must be an array of protocol numbers");
  Napi::Array a = v.As<Napi::Array>();
  f.all = false;
  for (uint32_t i = 0; i < a.Length(); i++) {
    f.allowed[ReadU32(env, a.Get(i), what + "[" + std::to_string(i) + "]", 0, 255)] = true;
  }
  return f;
}

}  // namespace l7nfq
