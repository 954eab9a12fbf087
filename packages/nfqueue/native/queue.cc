// NativeQueue lifecycle (open/bind/close) and verdicts.
#include "queue.h"

#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace l7nfq {

namespace {

constexpr size_t kVerdictMsgMax = 64;      // nlmsghdr + nfgenmsg + verdict hdr + mark, padded
constexpr size_t kTxChunk = 32 * 1024;     // bytes per sendto(), well under the default sndbuf
constexpr unsigned kMaxQueuesPerInstance = 1024;

bool IsValidVerdict(uint32_t v) { return v == NF_DROP || v == NF_ACCEPT || v == NF_REPEAT; }

uint32_t ReadVerdict(Napi::Env env, Napi::Value v, const std::string& what) {
  const uint32_t verdict = ReadU32(env, v, what, 0, 255);
  if (!IsValidVerdict(verdict)) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         what + " must be DROP (0), ACCEPT (1) or REPEAT (4), got " + std::to_string(verdict));
  }
  return verdict;
}

template <typename T>
Napi::TypedArrayOf<T> ReadTyped(Napi::Env env, Napi::Value v, napi_typedarray_type type, const std::string& what,
                                const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    Fail(env, "NFQ_INVALID_ARGUMENT", what + " must be a " + typeName);
  }
  return v.As<Napi::TypedArrayOf<T>>();
}

// Which netlink port holds `queue` in this network namespace, or -1.
long ProcQueueOwner(uint16_t queue) {
  FILE* f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
  if (f == nullptr) return -1;
  unsigned q = 0;
  unsigned long portid = 0;
  long owner = -1;
  char line[256];
  while (fgets(line, sizeof line, f) != nullptr) {
    if (sscanf(line, "%u %lu", &q, &portid) == 2 && q == queue) {
      owner = static_cast<long>(portid);
      break;
    }
  }
  fclose(f);
  return owner;
}

std::string FlagNames(bool failOpen, bool gso) {
  std::string s;
  if (failOpen) s += "FAIL_OPEN";
  if (gso) s += s.empty() ? "GSO" : "|GSO";
  return s.empty() ? "none" : s;
}

}  // namespace

Napi::Function NativeQueue::Define(Napi::Env env) {
  return DefineClass(env, "NativeQueue",
                     {
                         InstanceMethod<&NativeQueue::JsVerdict>("verdict"),
                         InstanceMethod<&NativeQueue::JsVerdictBatch>("verdictBatch"),
                         InstanceMethod<&NativeQueue::JsVerdictUpTo>("verdictUpTo"),
                         InstanceMethod<&NativeQueue::JsFlush>("flush"),
                         InstanceMethod<&NativeQueue::JsStats>("stats"),
                         InstanceMethod<&NativeQueue::JsClose>("close"),
                         InstanceMethod<&NativeQueue::JsRef>("ref"),
                         InstanceMethod<&NativeQueue::JsUnref>("unref"),
                         InstanceMethod<&NativeQueue::JsIsClosed>("isClosed"),
                         InstanceMethod<&NativeQueue::JsPortId>("portId"),
                     });
}

void InitQueue(Napi::Env env, Napi::Object exports) { exports.Set("NativeQueue", NativeQueue::Define(env)); }

// new NativeQueue(options, onBatch, onError?)
NativeQueue::NativeQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeQueue>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (!info[0].IsObject()) Fail(env, "NFQ_INVALID_ARGUMENT", "NfQueue options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();

  Napi::Value qv = o.Get("queues");
  if (!qv.IsArray()) Fail(env, "NFQ_INVALID_ARGUMENT", "options.queues must be an array of queue numbers");
  Napi::Array qa = qv.As<Napi::Array>();
  if (qa.Length() == 0 || qa.Length() > kMaxQueuesPerInstance) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         "options.queues must hold 1.." + std::to_string(kMaxQueuesPerInstance) + " queue numbers, got " +
             std::to_string(qa.Length()));
  }
  for (uint32_t i = 0; i < qa.Length(); i++) {
    const std::string what = "options.queues[" + std::to_string(i) + "]";
    const uint16_t q = static_cast<uint16_t>(ReadU32(env, qa.Get(i), what, 0, 65535));
    if (bound_.test(q)) Fail(env, "NFQ_INVALID_ARGUMENT", what + ": queue " + std::to_string(q) + " listed twice");
    bound_.set(q);
    queues_.push_back(q);
  }
  auto opt = [&](const char* name, uint32_t min, uint32_t max, uint32_t dflt) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined() || v.IsNull()) return dflt;
    return ReadU32(env, v, std::string("options.") + name, min, max);
  };
  copyRange_ = opt("copyRange", 1, 0xffff, 0xffff);
  maxLen_ = opt("maxLen", 1, 0x7fffffff, 1024);
  maxBatch_ = opt("maxBatch", 1, 65536, 1024);
  rcvBuf_ = opt("rcvBufBytes", 0, 1u << 30, 8u << 20);
  failOpen_ = ReadBool(env, o.Get("failOpen"), "options.failOpen", true);
  gso_ = ReadBool(env, o.Get("gso"), "options.gso", true);
  unref_ = ReadBool(env, o.Get("unref"), "options.unref", false);
  acceptOnTeardown_ = ReadBool(env, o.Get("acceptPendingOnClose"), "options.acceptPendingOnClose", true);

  if (!info[1].IsFunction()) Fail(env, "NFQ_INVALID_ARGUMENT", "onBatch must be a function");
  if (!info[2].IsUndefined() && !info[2].IsFunction()) {
    Fail(env, "NFQ_INVALID_ARGUMENT", "onError must be a function when given");
  }
  onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
  if (info[2].IsFunction()) onError_ = Napi::Persistent(info[2].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "l7nfq:NfQueue");

  Setup(env);  // cleans up after itself when it throws
  closed_ = false;
  Ref();  // an open queue is kept alive by its poll handle, not by JS references
  selfRef_ = true;
  napi_add_async_cleanup_hook(env, &NativeQueue::OnEnvTeardown, this, &cleanupHook_);
}

NativeQueue::~NativeQueue() { Close(false); }

void NativeQueue::Setup(Napi::Env env) {
  nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl_ == nullptr) {
    const int e = errno;
    Fail(env, "NFQ_SOCKET", "socket(AF_NETLINK, NETLINK_NETFILTER) failed: " + ErrnoText(e), {e});
  }
  auto bail = [&](const char* code, const std::string& msg, ErrorInfo ei) {
    mnl_socket_close(nl_);
    nl_ = nullptr;
    fd_ = -1;
    Fail(env, code, msg, ei);
  };
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    bail("NFQ_SOCKET", "bind() of the netlink socket failed: " + ErrnoText(e), {e});
  }
  fd_ = mnl_socket_get_fd(nl_);
  portid_ = mnl_socket_get_portid(nl_);

  // A large receive buffer absorbs bursts between two event-loop turns.
  // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; fall back to
  // SO_RCVBUF (capped by net.core.rmem_max) without it.
  if (rcvBuf_ > 0) {
    int v = static_cast<int>(rcvBuf_);
    rcvBufForced_ = setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) == 0;
    if (!rcvBufForced_) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  socklen_t sl = sizeof rcvBufActual_;
  getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvBufActual_, &sl);
  // Bounds the blocking wait for configuration acks (before uv makes the fd non-blocking).
  struct timeval tv = {2, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  // recvmmsg() slots: payload up to copyRange plus generous room for the
  // netlink header and metadata attributes, ~4 MiB of (lazily touched) memory.
  slot_ = (static_cast<size_t>(copyRange_) + 4096 + 7) & ~static_cast<size_t>(7);
  vlen_ = static_cast<unsigned>(std::clamp<size_t>((4u << 20) / slot_, 8, 128));
  vlen_ = std::min<unsigned>(vlen_, std::max<uint32_t>(maxBatch_, 1));
  rx_.reset(new char[slot_ * vlen_]);
  msgs_.assign(vlen_, mmsghdr{});
  iovs_.assign(vlen_, iovec{});
  peers_.assign(vlen_, sockaddr_nl{});

  for (uint16_t q : queues_) {
    try {
      BindQueue(env, q);
    } catch (...) {
      mnl_socket_close(nl_);  // closing the socket unbinds the queues bound so far
      nl_ = nullptr;
      fd_ = -1;
      throw;
    }
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    bail("NFQ_SOCKET", "cannot get the libuv event loop", {});
  }
  box_ = new PollBox();
  const int rc = uv_poll_init(loop, &box_->poll, fd_);  // also makes fd_ non-blocking
  if (rc != 0) {
    delete box_;
    box_ = nullptr;
    bail("NFQ_SOCKET", std::string("uv_poll_init on the netlink socket failed: ") + uv_strerror(rc), {-rc});
  }
  box_->poll.data = this;
  uv_poll_start(&box_->poll, UV_READABLE, &NativeQueue::OnPoll);
  if (unref_) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->poll));
}

uint32_t NativeQueue::NextSeq() {
  if (++seq_ == 0) seq_ = 1;  // seq 0 marks "quiet" messages
  return seq_;
}

// One NFQNL_MSG_CONFIG per queue carrying BIND, copy mode/range, max length
// and flags, so the queue never runs unconfigured; acked and checked.
void NativeQueue::BindQueue(Napi::Env env, uint16_t q) {
  alignas(8) char buf[256];
  struct nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q);
  nlh->nlmsg_flags |= NLM_F_ACK;
  const uint32_t seq = NextSeq();
  nlh->nlmsg_seq = seq;
  nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, static_cast<int>(copyRange_));
  nfq_nlmsg_cfg_put_qmaxlen(nlh, maxLen_);
  uint32_t flags = 0;
  if (failOpen_) flags |= NFQA_CFG_F_FAIL_OPEN;
  if (gso_) flags |= NFQA_CFG_F_GSO;
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));

  const std::string what = "binding queue " + std::to_string(q) + " (copy range " + std::to_string(copyRange_) +
                           ", maxlen " + std::to_string(maxLen_) + ", flags " + FlagNames(failOpen_, gso_) + ")";
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) {
    const int e = errno;
    Fail(env, "NFQ_BIND", what + ": sendto failed: " + ErrnoText(e), {e, q});
  }
  const int e = WaitAck(seq);
  if (e == 0) return;
  std::string hint;
  if (e == EPERM) {
    const long owner = ProcQueueOwner(q);
    hint = owner >= 0 && static_cast<uint32_t>(owner) != portid_
               ? " — the queue is already bound by another socket (netlink portid " + std::to_string(owner) + ")"
               : " — needs CAP_NET_ADMIN in this network namespace";
  } else if (e == EOPNOTSUPP) {
    hint = " — this kernel does not support one of the requested flags";
  } else if (e == ETIMEDOUT) {
    hint = " — no answer from the kernel (is nfnetlink_queue available?)";
  }
  Fail(env, "NFQ_BIND", what + " failed: " + ErrnoText(e) + hint, {e, q});
}

int NativeQueue::WaitAck(uint32_t seq) {
  char* buf = rx_.get();
  for (int spins = 0; spins < 100000; spins++) {
    struct sockaddr_nl peer = {};
    struct iovec iov = {buf, slot_};
    struct msghdr mh = {};
    mh.msg_name = &peer;
    mh.msg_namelen = sizeof peer;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    const ssize_t n = recvmsg(fd_, &mh, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        stats_.enobufs++;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return ETIMEDOUT;
      return errno;
    }
    if (peer.nl_pid != 0) {
      stats_.foreign++;
      continue;
    }
    int ackErr = 0;
    bool found = false;
    ParseDatagram(buf, static_cast<size_t>(n), (mh.msg_flags & MSG_TRUNC) != 0, seq, &ackErr, &found);
    if (found) return ackErr;
  }
  return ETIMEDOUT;
}

void NativeQueue::OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  auto* self = static_cast<NativeQueue*>(arg);
  self->cleanupHook_ = nullptr;  // `handle` is removed once the uv handle is closed
  self->Close(self->acceptOnTeardown_, handle);
}

void NativeQueue::Close(bool acceptPending, napi_async_cleanup_hook_handle hook) {
  if (closed_) {
    if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
    return;
  }
  closed_ = true;
  if (cleanupHook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanupHook_);
    cleanupHook_ = nullptr;
  }
  if (box_ != nullptr) {
    uv_poll_stop(&box_->poll);  // before the fd is closed
    box_->poll.data = nullptr;
    box_->hookDone = hook;
    uv_close(reinterpret_cast<uv_handle_t*>(&box_->poll), [](uv_handle_t* h) {
      PollBox* b = reinterpret_cast<PollBox*>(h);
      if (b->hookDone != nullptr) napi_remove_async_cleanup_hook(b->hookDone);
      delete b;
    });
    box_ = nullptr;
  } else if (hook != nullptr) {
    napi_remove_async_cleanup_hook(hook);
  }
  if (nl_ != nullptr) {
    txLen_ = 0;
    if (acceptPending) {
      // Fail-open: whatever is still queued (delivered but not verdicted, or
      // not read yet) is accepted rather than dropped by the unbind below.
      DrainForClose();
      for (const auto& [q, id] : maxId_) PutVerdict(NFQNL_MSG_VERDICT_BATCH, q, id, NF_ACCEPT, false, 0, 0);
    }
    for (uint16_t q : queues_) {
      if (txBuf_.size() < txLen_ + kVerdictMsgMax) txBuf_.resize(txLen_ + kVerdictMsgMax + 4096);
      struct nlmsghdr* nlh = nfq_nlmsg_put(txBuf_.data() + txLen_, NFQNL_MSG_CONFIG, q);
      nlh->nlmsg_seq = 0;
      nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
      txLen_ += nlh->nlmsg_len;
      if (txLen_ >= kTxChunk) SendTx();
    }
    SendTx();
    mnl_socket_close(nl_);
    nl_ = nullptr;
    fd_ = -1;
  }
  batch_ = Batch();
  errs_.clear();
  rx_.reset();
  msgs_.clear();
  iovs_.clear();
  peers_.clear();
}

void NativeQueue::CheckOpen(Napi::Env env, const char* call) {
  if (closed_) Fail(env, "NFQ_CLOSED", std::string(call) + ": NfQueue (queues " + QueueList() + ") is closed");
}

std::string NativeQueue::QueueList() const {
  std::string s;
  for (size_t i = 0; i < queues_.size(); i++) {
    // Collapse runs: 3-6,9
    size_t j = i;
    while (j + 1 < queues_.size() && queues_[j + 1] == queues_[j] + 1) j++;
    if (!s.empty()) s += ",";
    s += std::to_string(queues_[i]);
    if (j > i) s += "-" + std::to_string(queues_[j]);
    i = j;
  }
  return s;
}

uint16_t NativeQueue::ReadBoundQueue(Napi::Env env, Napi::Value v, const std::string& what) {
  const uint32_t q = ReadU32(env, v, what, 0, 65535);
  if (!bound_.test(q)) {
    Fail(env, "NFQ_INVALID_ARGUMENT",
         what + ": queue " + std::to_string(q) + " is not bound by this NfQueue (bound: " + QueueList() + ")",
         {0, static_cast<int>(q)});
  }
  return static_cast<uint16_t>(q);
}

void NativeQueue::PutVerdict(int type, uint16_t queue, uint32_t id, uint32_t verdict, bool setMark, uint32_t mark,
                             uint32_t seq) {
  if (txBuf_.size() < txLen_ + kVerdictMsgMax) txBuf_.resize(std::max(txBuf_.size() * 2, txLen_ + kVerdictMsgMax) + 4096);
  struct nlmsghdr* nlh = nfq_nlmsg_put(txBuf_.data() + txLen_, type, queue);
  nlh->nlmsg_seq = seq;  // = packet id, so a kernel error names the packet
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), static_cast<int>(verdict));
  if (setMark) nfq_nlmsg_verdict_put_mark(nlh, mark);
  txLen_ += nlh->nlmsg_len;
  stats_.verdictMessages++;
}

int NativeQueue::SendTx() {
  if (txLen_ == 0 || nl_ == nullptr) return 0;
  ssize_t r;
  do {
    r = mnl_socket_sendto(nl_, txBuf_.data(), txLen_);
  } while (r < 0 && errno == EINTR);
  txLen_ = 0;
  if (r < 0) return errno;
  stats_.verdictSends++;
  return 0;
}

void NativeQueue::QuietAccept(uint16_t queue, uint32_t id) {
  alignas(8) char buf[kVerdictMsgMax];
  struct nlmsghdr* nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);
  nlh->nlmsg_seq = 0;
  nfq_nlmsg_verdict_put(nlh, static_cast<int>(id), NF_ACCEPT);
  if (nl_ != nullptr) mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len);
}

// verdict(queue, id, verdict, mark?)
Napi::Value NativeQueue::JsVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "verdict");
  const uint16_t q = ReadBoundQueue(env, info[0], "verdict: queue");
  const uint32_t id = ReadU32(env, info[1], "verdict: packet id", 1, 0xffffffffu);
  const uint32_t verdict = ReadVerdict(env, info[2], "verdict: verdict");
  const bool setMark = !(info[3].IsUndefined() || info[3].IsNull());
  const uint32_t mark = setMark ? ReadU32(env, info[3], "verdict: mark", 0, 0xffffffffu) : 0;
  txLen_ = 0;
  PutVerdict(NFQNL_MSG_VERDICT, q, id, verdict, setMark, mark, id);
  const int e = SendTx();
  if (e != 0) {
    Fail(env, "NFQ_VERDICT", "verdict for packet " + std::to_string(id) + " on queue " + std::to_string(q) +
                                 ": sendto failed: " + ErrnoText(e), {e, q});
  }
  stats_.verdicts++;
  return env.Undefined();
}

// verdictBatch(queues: Uint16Array, ids: Uint32Array, verdicts: Uint8Array,
//              marks?: Uint32Array, setMark?: Uint8Array, quiet?: boolean, whole?: boolean) -> number sent
// Without setMark, a mark of 0xffffffff means "leave the mark alone".
// whole: the caller vouches that the arrays hold, per queue, every packet it
// has been given and not yet verdicted, in delivery order. Then a run of
// consecutive ids of one queue with one verdict and one mark goes as one
// NFQNL_MSG_VERDICT_BATCH ("every id up to the run's last"): the kernel's
// queue holds nothing older, since the messages before it took the rest.
// Messages are applied in order, so no packet overtakes another.
Napi::Value NativeQueue::JsVerdictBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "verdictBatch");
  auto queues = ReadTyped<uint16_t>(env, info[0], napi_uint16_array, "verdictBatch: queues", "Uint16Array");
  auto ids = ReadTyped<uint32_t>(env, info[1], napi_uint32_array, "verdictBatch: ids", "Uint32Array");
  auto verdicts = ReadTyped<uint8_t>(env, info[2], napi_uint8_array, "verdictBatch: verdicts", "Uint8Array");
  const size_t n = ids.ElementLength();
  auto sameLength = [&](size_t len, const char* name) {
    if (len != n) {
      Fail(env, "NFQ_INVALID_ARGUMENT", std::string("verdictBatch: ") + name + " has " + std::to_string(len) +
                                            " elements but ids has " + std::to_string(n));
    }
  };
  sameLength(queues.ElementLength(), "queues");
  sameLength(verdicts.ElementLength(), "verdicts");
  const bool hasMarks = !(info[3].IsUndefined() || info[3].IsNull());
  const bool hasFlags = !(info[4].IsUndefined() || info[4].IsNull());
  Napi::TypedArrayOf<uint32_t> marks;
  Napi::TypedArrayOf<uint8_t> flags;
  if (hasMarks) {
    marks = ReadTyped<uint32_t>(env, info[3], napi_uint32_array, "verdictBatch: marks", "Uint32Array");
    sameLength(marks.ElementLength(), "marks");
  }
  if (hasFlags) {
    if (!hasMarks) Fail(env, "NFQ_INVALID_ARGUMENT", "verdictBatch: setMark given without marks");
    flags = ReadTyped<uint8_t>(env, info[4], napi_uint8_array, "verdictBatch: setMark", "Uint8Array");
    sameLength(flags.ElementLength(), "setMark");
  }
  // quiet: kernel rejections (e.g. already verdicted ids) are counted, not reported.
  const bool quiet = ReadBool(env, info[5], "verdictBatch: quiet", false);
  const bool whole = ReadBool(env, info[6], "verdictBatch: whole", false);
  // Validate everything before sending anything.
  for (size_t i = 0; i < n; i++) {
    const uint16_t q = queues[i];
    if (!bound_.test(q)) {
      Fail(env, "NFQ_INVALID_ARGUMENT",
           "verdictBatch: queues[" + std::to_string(i) + "] = " + std::to_string(q) +
               " is not bound by this NfQueue (bound: " + QueueList() + ")",
           {0, q, static_cast<int64_t>(i)});
    }
    if (ids[i] == 0) {
      Fail(env, "NFQ_INVALID_ARGUMENT", "verdictBatch: ids[" + std::to_string(i) + "] = 0 is not a packet id",
           {0, q, static_cast<int64_t>(i)});
    }
    if (!IsValidVerdict(verdicts[i])) {
      Fail(env, "NFQ_INVALID_ARGUMENT",
           "verdictBatch: verdicts[" + std::to_string(i) + "] = " + std::to_string(verdicts[i]) +
               " is not DROP (0), ACCEPT (1) or REPEAT (4)",
           {0, q, static_cast<int64_t>(i)});
    }
  }
  auto marked = [&](size_t i) { return hasFlags ? flags[i] != 0 : hasMarks && marks[i] != 0xffffffffu; };
  // Whether packet j goes back exactly as packet i, right after it in its queue.
  auto sameRun = [&](size_t i, size_t j) {
    if (queues[j] != queues[i] || ids[j] != ids[j - 1] + 1 || verdicts[j] != verdicts[i]) return false;
    const bool m = marked(i);
    return marked(j) == m && (!m || marks[j] == marks[i]);
  };
  txLen_ = 0;
  size_t sent = 0;
  for (size_t i = 0; i < n;) {
    size_t last = i;
    if (whole) {
      while (last + 1 < n && sameRun(i, last + 1)) last++;
    }
    const bool setMark = marked(i);
    PutVerdict(last > i ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, queues[i], ids[last], verdicts[i], setMark,
               setMark ? marks[i] : 0, quiet ? 0 : ids[last]);
    i = last + 1;
    if (txLen_ >= kTxChunk || i == n) {
      const int e = SendTx();
      if (e != 0) {
        stats_.verdicts += static_cast<double>(sent);
        Fail(env, "NFQ_VERDICT",
             "verdictBatch: sendto failed after " + std::to_string(sent) + " of " + std::to_string(n) +
                 " verdicts: " + ErrnoText(e),
             {e, -1, static_cast<int64_t>(sent)});
      }
      sent = i;
    }
  }
  stats_.verdicts += static_cast<double>(n);
  return Napi::Number::New(env, static_cast<double>(n));
}

// verdictUpTo(queue, id, verdict, mark?): NFQNL_MSG_VERDICT_BATCH — applies
// the verdict to every packet of the queue with an id <= `id`.
Napi::Value NativeQueue::JsVerdictUpTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "verdictUpTo");
  const uint16_t q = ReadBoundQueue(env, info[0], "verdictUpTo: queue");
  const uint32_t id = ReadU32(env, info[1], "verdictUpTo: packet id", 1, 0xffffffffu);
  const uint32_t verdict = ReadVerdict(env, info[2], "verdictUpTo: verdict");
  const bool setMark = !(info[3].IsUndefined() || info[3].IsNull());
  const uint32_t mark = setMark ? ReadU32(env, info[3], "verdictUpTo: mark", 0, 0xffffffffu) : 0;
  txLen_ = 0;
  PutVerdict(NFQNL_MSG_VERDICT_BATCH, q, id, verdict, setMark, mark, id);
  const int e = SendTx();
  if (e != 0) {
    Fail(env, "NFQ_VERDICT", "verdictUpTo " + std::to_string(id) + " on queue " + std::to_string(q) +
                                 ": sendto failed: " + ErrnoText(e), {e, q});
  }
  stats_.verdicts++;
  return env.Undefined();
}

Napi::Value NativeQueue::JsFlush(const Napi::CallbackInfo& info) {
  const size_t n = batch_.size();
  if (!closed_ && !delivering_) Deliver();
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value NativeQueue::JsStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  num("packets", stats_.packets);
  num("bytes", stats_.bytes);
  num("batches", stats_.batches);
  num("largestBatch", stats_.largestBatch);
  num("recvCalls", stats_.recvCalls);
  num("enobufs", stats_.enobufs);
  num("verdicts", stats_.verdicts);
  num("verdictSends", stats_.verdictSends);
  num("verdictMessages", stats_.verdictMessages);
  num("verdictErrors", stats_.verdictErrors);
  num("quietErrors", stats_.quietErrors);
  num("truncated", stats_.truncated);
  num("parseErrors", stats_.parseErrors);
  num("foreignMessages", stats_.foreign);
  num("socketErrors", stats_.socketErrors);
  num("errorsDropped", stats_.errorsDropped);
  num("rcvBufBytes", rcvBufActual_);
  o.Set("rcvBufForced", Napi::Boolean::New(env, rcvBufForced_));
  num("portId", portid_);
  return o;
}

// close(acceptPending)
Napi::Value NativeQueue::JsClose(const Napi::CallbackInfo& info) {
  const bool accept = info[0].IsBoolean() ? info[0].As<Napi::Boolean>().Value() : acceptOnTeardown_;
  Close(accept);
  // Break the native -> JS callback -> wrapper cycle so all of it can be collected.
  onBatch_.Reset();
  onError_.Reset();
  meta_.Reset();
  data_.Reset();
  if (selfRef_) {
    selfRef_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

Napi::Value NativeQueue::JsRef(const Napi::CallbackInfo& info) {
  if (box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&box_->poll));
  return info.Env().Undefined();
}

Napi::Value NativeQueue::JsUnref(const Napi::CallbackInfo& info) {
  if (box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->poll));
  return info.Env().Undefined();
}

Napi::Value NativeQueue::JsIsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

Napi::Value NativeQueue::JsPortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portid_); }

}  // namespace l7nfq
