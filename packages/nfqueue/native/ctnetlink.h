// Reading conntrack entries over ctnetlink: what the reply lookup
// (ctquery.cc), the full dump (ctquery.cc) and the DESTROY event reader
// (ctevents.cc) share. An entry is parsed once, on whichever thread read
// it, into a CtRecord, and appended to CtColumns: fixed numbers plus the
// addresses as text, which cross into JS as three typed arrays (the JS side,
// src/conntrackEntry.ts, turns them into objects).
#pragma once

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <napi.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

struct nlmsghdr;

namespace l7nfq {

// One conntrack entry as ctnetlink reports it. Ports are in host order and
// 0 for protocols without ports (ICMP, GRE, ...).
struct CtRecord {
  uint8_t family = 0;  // AF_INET / AF_INET6
  uint8_t proto = 0;
  uint8_t origSrc[16] = {}, origDst[16] = {}, replSrc[16] = {}, replDst[16] = {};
  uint16_t origSport = 0, origDport = 0, replSport = 0, replDport = 0;
  bool hasZone = false;
  uint16_t zone = 0;
  uint32_t mark = 0, id = 0, status = 0;
  // CTA_COUNTERS_ORIG / _REPLY: only on entries created while
  // net.netfilter.nf_conntrack_acct was 1 (the acct extension is attached at
  // creation and never later).
  bool hasCounters = false;
  uint64_t origPackets = 0, origBytes = 0, replPackets = 0, replBytes = 0;
  // CTA_TIMESTAMP (wall clock, ns): only with net.netfilter.nf_conntrack_timestamp=1
  // at creation; the stop time only in DESTROY events.
  bool hasStart = false, hasStop = false;
  uint64_t startNs = 0, stopNs = 0;
  bool hasTimeout = false;  // seconds left; dumps and lookups, not DESTROY events
  uint32_t timeout = 0;
};

// Parses a ctnetlink entry message (IPCTNL_MSG_CT_NEW from a GET or dump,
// IPCTNL_MSG_CT_DELETE from a DESTROY event). False if it is not one or
// lacks its tuples.
bool ParseCtRecord(const struct nlmsghdr* nlh, CtRecord* out);

// Numbers per entry in CtColumns::nums, in this order (src/conntrackEntry.ts
// reads them by the same indices). -1 stands for "absent".
enum CtNum : unsigned {
  kCtFamily,  // 4 | 6
  kCtProto,
  kCtOrigSport,
  kCtOrigDport,
  kCtReplSport,
  kCtReplDport,
  kCtZone,  // -1: default zone (no CTA_ZONE)
  kCtMark,
  kCtOrigPackets,  // -1: no counters
  kCtOrigBytes,
  kCtReplPackets,
  kCtReplBytes,
  kCtStartMs,  // -1: no timestamp
  kCtStopMs,
  kCtId,
  kCtStatus,
  kCtTimeout,  // -1: not reported
  kCtNums
};

// Entries column-wise: kCtNums numbers each, and four addresses each (orig
// src, orig dst, reply src, reply dst) as indices into a table of the
// distinct addresses, address k being the text addrs[offsets[k],
// offsets[k + 1]). A table has few distinct addresses (a router's clients,
// its servers, its NAT addresses), so JS makes each address string once:
// making four strings per entry was most of the cost of turning 100k
// entries into objects.
struct CtColumns {
  std::vector<double> nums;
  std::vector<uint32_t> addrIdx;
  std::string addrs;
  std::vector<uint32_t> offsets{0};
  size_t count = 0;
  void Append(const CtRecord& r);
  // { count, nums: Float64Array, addrIdx: Uint32Array, addrs: Uint8Array,
  // offsets: Uint32Array } over this object's memory (moved out; no copy on
  // the JS thread).
  Napi::Object ToJs(Napi::Env env);

 private:
  uint32_t AddressIndex(const uint8_t* a, bool v6);
  void Grow();
  // Open addressing: slot = index + 1 of a distinct address, 0 = empty.
  std::vector<uint32_t> slots_;
  std::vector<std::array<uint8_t, 17>> keys_;  // family byte + 16 address bytes, by index
};

// A tuple from JS ({ family: 4|6, protocol, src, dst, sport, dport, zone? }),
// as the kernel wants it. Throws NFQ_INVALID_ARGUMENT naming `what`.
struct CtTuple {
  uint8_t family = 0;  // AF_INET / AF_INET6
  uint8_t proto = 0;
  uint8_t src[16] = {}, dst[16] = {};
  uint16_t sport = 0, dport = 0;
  bool hasZone = false;
  uint16_t zone = 0;
};
CtTuple ReadCtTuple(Napi::Env env, Napi::Value v, const std::string& what);
// "tcp 198.18.0.1:40000 -> 198.18.0.2:80" (zone appended when set).
std::string DescribeCtTuple(const CtTuple& t);

// Sets a tuple's original direction (and zone) on a libnetfilter_conntrack
// object: for the mark updates (conntrack.cc) and the reply lookups
// (ctquery.cc), whose tuples have these fields.
template <class Tuple>
void SetOriginalTuple(struct nf_conntrack* ct, const Tuple& t) {
  nfct_set_attr_u8(ct, ATTR_L3PROTO, t.family);
  if (t.family == AF_INET) {
    uint32_t s, d;
    memcpy(&s, t.src, 4);
    memcpy(&d, t.dst, 4);
    nfct_set_attr_u32(ct, ATTR_IPV4_SRC, s);
    nfct_set_attr_u32(ct, ATTR_IPV4_DST, d);
  } else {
    nfct_set_attr(ct, ATTR_IPV6_SRC, t.src);
    nfct_set_attr(ct, ATTR_IPV6_DST, t.dst);
  }
  nfct_set_attr_u8(ct, ATTR_L4PROTO, t.proto);
  nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(t.sport));
  nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(t.dport));
  if (t.hasZone) nfct_set_attr_u16(ct, ATTR_ZONE, t.zone);
}

// A protocol filter given as an array of protocol numbers (undefined: all).
struct CtProtocolFilter {
  bool all = true;
  bool allowed[256] = {};
  bool Allows(uint8_t proto) const { return all || allowed[proto]; }
};
CtProtocolFilter ReadCtProtocols(Napi::Env env, Napi::Value v, const std::string& what);

void InitConntrackQuery(Napi::Env env, Napi::Object exports);
void InitConntrackEvents(Napi::Env env, Napi::Object exports);

}  // namespace l7nfq
