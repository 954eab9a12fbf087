// NativeQueue receive path: on each libuv wake-up, drain the netlink socket
// with recvmmsg(MSG_DONTWAIT) until it is empty (or a per-wake cap), parse
// every packet into one column-wise Batch, and hand the whole batch to JS in
// one callback.
#include <arpa/inet.h>
#include <endian.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "queue.h"

namespace l7nfq {

namespace {
constexpr size_t kMaxBatchBytes = 64u << 20;  // keeps payload offsets well inside uint32
constexpr size_t kBatchBytesPerPacket = 8 + 7 * 4 + 2 * 2 + 2 * 1;  // the metadata columns (FillBatchBuffers)
constexpr size_t kMinDataBuffer = 256u << 10;
constexpr size_t kMaxPendingErrors = 32;
}  // namespace

void Batch::clear() {
  ids.clear();
  marks.clear();
  inIf.clear();
  outIf.clear();
  offsets.clear();
  lengths.clear();
  origLens.clear();
  queues.clear();
  hwProto.clear();
  hooks.clear();
  skbInfo.clear();
  tsUs.clear();
  data.clear();
}

void NativeQueue::OnPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<NativeQueue*>(handle->data);
  if (self == nullptr || self->closed_) return;
  if (status < 0 && !self->RecoverPoll(status)) return;
  self->ReadAndDeliver();
}

// libuv turns EPOLLERR into status UV_EBADF *and stops the handle*. On a
// netlink socket EPOLLERR is how a receive-buffer overrun (sk_err = ENOBUFS)
// shows up, so: read and clear the pending socket error, count ENOBUFS, and
// re-arm the poll. Only a really broken socket is reported (and stays stopped).
bool NativeQueue::RecoverPoll(int status) {
  int soErr = 0;
  socklen_t len = sizeof soErr;
  const bool fdOk = getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soErr, &len) == 0;
  if (fdOk && (soErr == 0 || soErr == ENOBUFS)) {
    if (soErr == ENOBUFS) stats_.enobufs++;
    const int rc = uv_poll_start(&box_->poll, UV_READABLE, &NativeQueue::OnPoll);
    if (rc == 0) return true;
    status = rc;
  }
  stats_.socketErrors++;
  const std::string why = fdOk && soErr != 0 ? ErrnoText(soErr) : uv_strerror(status);
  QueueError("NFQ_SOCKET", "polling the netlink socket of queues " + QueueList() + " failed: " + why,
             {fdOk && soErr != 0 ? soErr : -status});
  Deliver();
  return false;
}

static void PrepareMsgs(std::vector<mmsghdr>& msgs, std::vector<iovec>& iovs, std::vector<sockaddr_nl>& peers,
                        char* rx, size_t slot, unsigned want) {
  for (unsigned i = 0; i < want; i++) {
    iovs[i].iov_base = rx + i * slot;
    iovs[i].iov_len = slot;
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_name = &peers[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_len = 0;
  }
}

void NativeQueue::ReadAndDeliver() {
  // Bounded: every round either reads datagrams or consumed one error report.
  const unsigned maxRounds = maxBatch_ / vlen_ * 2 + 16;
  for (unsigned round = 0; round < maxRounds; round++) {
    if (closed_ || batch_.size() >= maxBatch_ || batch_.data.size() >= kMaxBatchBytes) break;
    const unsigned want = static_cast<unsigned>(std::min<size_t>(vlen_, maxBatch_ - batch_.size()));
    PrepareMsgs(msgs_, iovs_, peers_, rx_.get(), slot_, want);
    const int n = recvmmsg(fd_, msgs_.data(), want, MSG_DONTWAIT, nullptr);
    stats_.recvCalls++;
    if (n < 0) {
      const int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (e == ENOBUFS) {
        // The receive buffer overflowed: the kernel dropped (or, with
        // FAIL_OPEN, accepted) packets it could not deliver. Keep reading.
        stats_.enobufs++;
        continue;
      }
      stats_.socketErrors++;
      QueueError("NFQ_SOCKET", "recvmmsg on the netlink socket of queues " + QueueList() + " failed: " + ErrnoText(e),
                 {e});
      break;
    }
    for (int i = 0; i < n; i++) {
      if (peers_[i].nl_pid != 0) {  // only the kernel may talk to us
        stats_.foreign++;
        continue;
      }
      ParseDatagram(rx_.get() + static_cast<size_t>(i) * slot_, msgs_[i].msg_len,
                    (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0);
    }
    if (static_cast<unsigned>(n) < want) break;  // socket drained
  }
  Deliver();
}

void NativeQueue::DrainForClose() {
  if (!rx_ || fd_ < 0) return;
  for (int round = 0; round < 256; round++) {
    PrepareMsgs(msgs_, iovs_, peers_, rx_.get(), slot_, vlen_);
    const int n = recvmmsg(fd_, msgs_.data(), vlen_, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;
      break;
    }
    for (int i = 0; i < n; i++) {
      if (peers_[i].nl_pid != 0) continue;
      ParseDatagram(rx_.get() + static_cast<size_t>(i) * slot_, msgs_[i].msg_len,
                    (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0);
    }
    batch_.clear();  // only their ids matter (noted in maxId_)
    if (static_cast<unsigned>(n) < vlen_) break;
  }
  errs_.clear();
}

void NativeQueue::ParseDatagram(const char* buf, size_t len, bool truncated, uint32_t ackSeq, int* ackErr,
                                bool* ackFound) {
  if (truncated) {
    AcceptTruncated(buf, len);
    return;
  }
  const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(buf);
  int rem = static_cast<int>(len);
  while (mnl_nlmsg_ok(nlh, rem)) {
    const uint16_t type = nlh->nlmsg_type;
    if (type == NLMSG_ERROR) {
      ParseError(nlh, ackSeq, ackErr, ackFound);
    } else if (type >= NLMSG_MIN_TYPE) {
      if (NFNL_SUBSYS_ID(type) == NFNL_SUBSYS_QUEUE && NFNL_MSG_TYPE(type) == NFQNL_MSG_PACKET) {
        ParsePacket(nlh);
      } else {
        stats_.parseErrors++;
      }
    }
    nlh = mnl_nlmsg_next(nlh, &rem);
  }
}

void NativeQueue::NoteId(uint16_t queue, uint32_t id) {
  uint32_t& m = maxId_[queue];
  if (m == 0 || static_cast<int32_t>(id - m) > 0) m = id;  // ids wrap around
}

void NativeQueue::ParsePacket(const struct nlmsghdr* nlh) {
  struct nlattr* attr[NFQA_MAX + 1] = {};
  const int rc = nfq_nlmsg_parse(nlh, attr);
  const auto* nfg = static_cast<const struct nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  const uint16_t queue = ntohs(nfg->res_id);
  if (attr[NFQA_PACKET_HDR] == nullptr) {
    stats_.parseErrors++;
    return;
  }
  const auto* ph = static_cast<const struct nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attr[NFQA_PACKET_HDR]));
  const uint32_t id = ntohl(ph->packet_id);
  NoteId(queue, id);
  if (rc < 0) {
    // Malformed metadata: never hold a packet we cannot hand to JS.
    stats_.parseErrors++;
    QuietAccept(queue, id);
    return;
  }
  const uint8_t* payload = nullptr;
  uint32_t plen = 0;
  if (attr[NFQA_PAYLOAD] != nullptr) {
    payload = static_cast<const uint8_t*>(mnl_attr_get_payload(attr[NFQA_PAYLOAD]));
    plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
  }
  auto u32 = [&](int a) -> uint32_t { return attr[a] != nullptr ? ntohl(mnl_attr_get_u32(attr[a])) : 0; };

  batch_.ids.push_back(id);
  batch_.queues.push_back(queue);
  batch_.hwProto.push_back(ntohs(ph->hw_protocol));
  batch_.hooks.push_back(ph->hook);
  batch_.marks.push_back(u32(NFQA_MARK));
  batch_.inIf.push_back(u32(NFQA_IFINDEX_INDEV));
  batch_.outIf.push_back(u32(NFQA_IFINDEX_OUTDEV));
  batch_.skbInfo.push_back(static_cast<uint8_t>(u32(NFQA_SKB_INFO)));
  // NFQA_CAP_LEN is only sent when the copy range cut the packet short.
  batch_.origLens.push_back(attr[NFQA_CAP_LEN] != nullptr ? u32(NFQA_CAP_LEN) : plen);
  double ts = 0;
  if (attr[NFQA_TIMESTAMP] != nullptr &&
      mnl_attr_get_payload_len(attr[NFQA_TIMESTAMP]) >= sizeof(struct nfqnl_msg_packet_timestamp)) {
    uint64_t sec = 0, usec = 0;
    const auto* p = static_cast<const char*>(mnl_attr_get_payload(attr[NFQA_TIMESTAMP]));
    memcpy(&sec, p, 8);
    memcpy(&usec, p + 8, 8);
    ts = static_cast<double>(be64toh(sec)) * 1e6 + static_cast<double>(be64toh(usec));
  }
  batch_.tsUs.push_back(ts);
  batch_.offsets.push_back(static_cast<uint32_t>(batch_.data.size()));
  batch_.lengths.push_back(plen);
  if (plen > 0) batch_.data.insert(batch_.data.end(), payload, payload + plen);
  stats_.packets++;
  stats_.bytes += plen;
}

void NativeQueue::ParseError(const struct nlmsghdr* nlh, uint32_t ackSeq, int* ackErr, bool* ackFound) {
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) {
    stats_.parseErrors++;
    return;
  }
  const auto* e = static_cast<const struct nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  const uint32_t seq = e->msg.nlmsg_seq;
  if (ackSeq != 0 && seq == ackSeq && ackErr != nullptr && ackFound != nullptr) {
    *ackErr = -e->error;
    *ackFound = true;
    return;
  }
  if (e->error == 0) return;  // a plain ack
  const int err = -e->error;
  if (seq == 0) {  // quiet message (close-time accept, unbind, fail-safe accept)
    stats_.quietErrors++;
    return;
  }
  stats_.verdictErrors++;
  int queue = -1;
  if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(struct nlmsgerr) + sizeof(struct nfgenmsg)) {
    const auto* g = reinterpret_cast<const struct nfgenmsg*>(e + 1);
    queue = ntohs(g->res_id);
  }
  std::string msg = "queue " + (queue >= 0 ? std::to_string(queue) : std::string("?")) +
                    ": kernel rejected the verdict for packet id " + std::to_string(seq) + ": " + ErrnoText(err);
  if (err == ENOENT) msg += " — no such packet waiting in the queue (already verdicted?)";
  QueueError("NFQ_VERDICT", std::move(msg), {err, queue});
}

// The datagram did not fit a receive slot (should not happen: slots hold the
// copy range plus 4 KiB). Find the packet id in what we have and accept it.
void NativeQueue::AcceptTruncated(const char* buf, size_t len) {
  stats_.truncated++;
  const size_t base = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
  if (len < base) return;
  const auto* nlh = reinterpret_cast<const struct nlmsghdr*>(buf);
  if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET) {
    return;
  }
  const auto* nfg = reinterpret_cast<const struct nfgenmsg*>(buf + NLMSG_HDRLEN);
  const uint16_t queue = ntohs(nfg->res_id);
  size_t off = base;
  while (off + sizeof(struct nlattr) <= len) {
    const auto* a = reinterpret_cast<const struct nlattr*>(buf + off);
    if (a->nla_len < sizeof(struct nlattr)) return;
    if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
        off + NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr) <= len) {
      struct nfqnl_msg_packet_hdr ph;
      memcpy(&ph, buf + off + NLA_HDRLEN, sizeof ph);
      const uint32_t id = ntohl(ph.packet_id);
      NoteId(queue, id);
      QuietAccept(queue, id);
      return;
    }
    off += NLA_ALIGN(a->nla_len);
  }
}

void NativeQueue::QueueError(const char* code, std::string message, ErrorInfo info) {
  if (errs_.size() >= kMaxPendingErrors) {
    stats_.errorsDropped++;
    return;
  }
  errs_.push_back({code, std::move(message), info});
}

// The batch goes to JS in two ArrayBuffers kept between batches, so that a
// batch costs no allocation and no property set here (the JS side makes the
// views; see src/batch.ts). Metadata: one column per field at a fixed place
// for the buffer's capacity C packets, widest first so every view is
// aligned: tsUs (8C), ids, marks, inIf, outIf, offsets, lengths, origLens
// (4C each), queues, hwProto (2C each), hooks, skbInfo (C each).
void NativeQueue::FillBatchBuffers(Napi::Env env, size_t* capacity) {
  const size_t n = batch_.size();
  if (meta_.IsEmpty() || metaCapacity_ < n) {
    metaCapacity_ = std::max<size_t>(n, maxBatch_);
    meta_ = Napi::Persistent(Napi::ArrayBuffer::New(env, metaCapacity_ * kBatchBytesPerPacket));
  }
  const size_t dataBytes = batch_.data.size();
  const size_t had = data_.IsEmpty() ? 0 : data_.Value().ByteLength();
  if (had < dataBytes || had == 0) data_ = Napi::Persistent(Napi::ArrayBuffer::New(env, std::max({dataBytes, 2 * had, kMinDataBuffer})));
  const size_t c = metaCapacity_;
  auto* base = static_cast<uint8_t*>(meta_.Value().Data());
  size_t off = 0;
  auto put = [&](const auto& vec) {
    using T = typename std::decay_t<decltype(vec)>::value_type;
    memcpy(base + off, vec.data(), n * sizeof(T));
    off += c * sizeof(T);
  };
  put(batch_.tsUs);
  put(batch_.ids);
  put(batch_.marks);
  put(batch_.inIf);
  put(batch_.outIf);
  put(batch_.offsets);
  put(batch_.lengths);
  put(batch_.origLens);
  put(batch_.queues);
  put(batch_.hwProto);
  put(batch_.hooks);
  put(batch_.skbInfo);
  if (dataBytes > 0) memcpy(data_.Value().Data(), batch_.data.data(), dataBytes);
  *capacity = c;
}

void NativeQueue::CallJs(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (fn.IsEmpty()) return;
  Napi::Function f = fn.Value();  // fn may be Reset by close() during the call
  try {
    f.MakeCallback(Value(), args, *async_);
  } catch (const Napi::Error& e) {
    // The TS layer catches user exceptions; anything here is a bug worth
    // surfacing as an uncaught exception rather than swallowing.
    napi_fatal_exception(env_, e.Value());
  }
}

void NativeQueue::Deliver() {
  if (delivering_ || (batch_.size() == 0 && errs_.empty())) return;
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  [[maybe_unused]] Napi::Object self = Value();  // keeps the wrapper alive during the callbacks
  delivering_ = true;
  if (batch_.size() > 0) {
    const size_t n = batch_.size();
    const size_t dataBytes = batch_.data.size();
    size_t capacity = 0;
    FillBatchBuffers(env, &capacity);
    stats_.batches++;
    stats_.largestBatch = std::max(stats_.largestBatch, static_cast<double>(n));
    batch_.clear();
    // onBatch(count, meta, capacity, data, dataBytes)
    CallJs(onBatch_, {Napi::Number::New(env, static_cast<double>(n)), meta_.Value(),
                      Napi::Number::New(env, static_cast<double>(capacity)), data_.Value(),
                      Napi::Number::New(env, static_cast<double>(dataBytes))});
  }
  for (int guard = 0; guard < 4 && !errs_.empty(); guard++) {
    std::vector<PendingError> errs = std::move(errs_);
    errs_.clear();
    for (const PendingError& pe : errs) CallJs(onError_, {MakeError(env, pe.code, pe.message, pe.info)});
  }
  errs_.clear();
  delivering_ = false;
}

}  // namespace l7nfq
