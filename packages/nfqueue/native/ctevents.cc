// ConntrackEvents: conntrack DESTROY events (NFNLGRP_CONNTRACK_DESTROY) with
// their counters, read by a thread of their own and handed to JS in batches.
//
// Why a thread and not a uv_poll_t on the event loop (as NfQueue does):
// DESTROY events come in bursts the JS thread does not control — a timeout
// wave of UDP flows, a `conntrack -F`, a busy NAT pool — and each event is
// its own skb in the socket's receive buffer, charged at its truesize (about
// 1 KiB for a 300-byte message), so even an 8 MiB buffer holds only a few
// thousand. The JS thread of an edge is busy classifying NFQUEUE batches
// and pauses for GC; while it does, a poll handle reads nothing and the
// kernel drops what does not fit (ENOBUFS). The reader thread drains the
// socket whatever the event loop is doing, parses each event at once into
// about 200 bytes, and keeps them in a bounded queue (maxBuffered entries)
// that JS takes from in chunks of maxBatch.
//
// Losses are counted, never silent:
// - ENOBUFS: the kernel could not queue events for us (receive buffer
//   full). How many is not known; the caller's next dump catches up the
//   connections still open.
// - dropped: the queue was full (JS not taking): the exact number of events.
// - truncated: an event larger than a receive slot (not expected).
// Each take() reports the losses since the previous one.
//
// `reliable` sets NETLINK_BROADCAST_ERROR (and NETLINK_NO_ENOBUFS, as
// conntrackd's NetlinkEventsReliable does): a DESTROY the kernel cannot
// queue for us makes it keep the entry and send it again later (every
// 100 ms to 1 s) instead of dropping it, and when the queue is full the
// thread stops reading, so the kernel holds them. Nothing is lost then, but
// entries waiting for redelivery still count against nf_conntrack_max: a
// reader that stops (a SIGSTOPped process) can fill the table and make the
// router drop new connections. Off by default for that reason.
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"
#include "ctnetlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace l7nfq {

namespace {

constexpr unsigned kSlots = 64;            // datagrams per recvmmsg()
constexpr size_t kSlotBytes = 8192;        // one event is 200-600 bytes
constexpr uint32_t kMaxBufferedLimit = 1u << 24;

struct AsyncBox {
  uv_async_t async;
  napi_async_cleanup_hook_handle hookDone = nullptr;  // set when closed by env teardown
};

// Counters, written by the reader thread and JS thread under the mutex.
struct EventStats {
  double messages = 0, events = 0, filtered = 0, delivered = 0, enobufs = 0, dropped = 0;
  double truncated = 0, parseErrors = 0, foreign = 0, recvCalls = 0, maxPending = 0, wakeups = 0;
};

class CtEvents : public Napi::ObjectWrap<CtEvents> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeConntrackEvents",
                       {
                           InstanceMethod<&CtEvents::JsTake>("take"),
                           InstanceMethod<&CtEvents::JsStats>("stats"),
                           InstanceMethod<&CtEvents::JsClose>("close"),
                           InstanceMethod<&CtEvents::JsRef>("ref"),
                           InstanceMethod<&CtEvents::JsUnref>("unref"),
                           InstanceMethod<&CtEvents::JsIsClosed>("isClosed"),
                       });
  }

  // new NativeConntrackEvents({ rcvBufBytes, maxBuffered, maxBatch, protocols?, reliable, unref }, notify)
  explicit CtEvents(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CtEvents>(info) {
    Napi::Env env = info.Env();
    env_ = env;
    if (!info[0].IsObject()) Fail(env, "NFQ_INVALID_ARGUMENT", "ConntrackEvents options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto opt = [&](const char* name, uint32_t min, uint32_t max, uint32_t dflt) {
      Napi::Value v = o.Get(name);
      if (v.IsUndefined() || v.IsNull()) return dflt;
      return ReadU32(env, v, std::string("options.") + name, min, max);
    };
    rcvBuf_ = opt("rcvBufBytes", 0, 1u << 30, 8u << 20);
    maxBuffered_ = opt("maxBuffered", 1, kMaxBufferedLimit, 131072);
    maxBatch_ = opt("maxBatch", 1, 65536, 4096);
    reliable_ = ReadBool(env, o.Get("reliable"), "options.reliable", false);
    const bool unref = ReadBool(env, o.Get("unref"), "options.unref", false);
    filter_ = ReadCtProtocols(env, o.Get("protocols"), "options.protocols");
    if (!info[1].IsFunction()) Fail(env, "NFQ_INVALID_ARGUMENT", "ConntrackEvents: notify must be a function");
    notify_ = Napi::Persistent(info[1].As<Napi::Function>());
    async_ = std::make_unique<Napi::AsyncContext>(env, "l7nfq:ConntrackEvents");

    OpenSocket(env);  // on this thread: the socket belongs to its network namespace
    box_ = new AsyncBox();
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    uv_async_init(loop, &box_->async, &CtEvents::OnAsync);
    box_->async.data = this;
    if (unref) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->async));
    closed_ = false;
    thread_ = std::thread([this] { Run(); });
    Ref();  // an open subscription lives until close(), whatever JS holds
    selfRef_ = true;
    napi_add_async_cleanup_hook(env, &CtEvents::OnEnvTeardown, this, &cleanupHook_);
  }

  ~CtEvents() override { Close(); }

 private:
  void OpenSocket(Napi::Env env) {
    nl_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (nl_ == nullptr) {
      const int e = errno;
      Fail(env, "CT_SOCKET", "ConntrackEvents: socket(AF_NETLINK, NETLINK_NETFILTER) failed: " + ErrnoText(e), {e});
    }
    fd_ = mnl_socket_get_fd(nl_);
    auto fail = [&](const std::string& what) {
      const int e = errno;
      mnl_socket_close(nl_);
      nl_ = nullptr;
      fd_ = -1;
      Fail(env, "CT_SOCKET", "ConntrackEvents: " + what + ": " + ErrnoText(e) + (e == EPERM ? " (needs CAP_NET_ADMIN)" : ""), {e});
    };
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) fail("bind");
    if (rcvBuf_ > 0) {
      int size = static_cast<int>(rcvBuf_);
      if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) == 0) {
        rcvBufForced_ = true;
      } else {
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // capped at net.core.rmem_max
      }
    }
    socklen_t len = sizeof rcvBufActual_;
    getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvBufActual_, &len);
    if (reliable_) {
      int one = 1;
      if (setsockopt(fd_, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one, sizeof one) < 0) fail("NETLINK_BROADCAST_ERROR");
      if (setsockopt(fd_, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one) < 0) fail("NETLINK_NO_ENOBUFS");
    }
    // Joined last: no event is queued before the socket is set up.
    int group = NFNLGRP_CONNTRACK_DESTROY;
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      fail("joining NFNLGRP_CONNTRACK_DESTROY");
    }
    portid_ = mnl_socket_get_portid(nl_);
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) fail("eventfd");
  }

  // ------------------------------------------------------------ reader thread

  void Run() {
    std::unique_ptr<char[]> rx(new char[kSlots * kSlotBytes]);
    std::vector<struct mmsghdr> msgs(kSlots);
    std::vector<struct iovec> iovs(kSlots);
    std::vector<struct sockaddr_nl> peers(kSlots);
    std::vector<CtRecord> recs;
    recs.reserve(kSlots);
    struct pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    while (!stop_.load()) {
      if (reliable_) {
        // Back-pressure: leave the events in the kernel, which resends them.
        std::unique_lock<std::mutex> lock(mu_);
        space_.wait(lock, [&] { return stop_.load() || pending_ < maxBuffered_; });
        if (stop_.load()) break;
      }
      const int pr = poll(fds, 2, -1);
      if (pr < 0) {
        if (errno == EINTR) continue;
        Fatal(errno, "poll");
        return;
      }
      if (fds[1].revents != 0) break;  // close()
      if (fds[0].revents == 0) continue;
      // Drain until the socket is empty (or, reliable, the queue is full).
      for (;;) {
        // Reliable: never read more than the queue has room for (one event
        // per datagram), so that nothing read has to be dropped.
        unsigned want = kSlots;
        if (reliable_) {
          std::lock_guard<std::mutex> lock(mu_);
          if (pending_ >= maxBuffered_) break;
          want = static_cast<unsigned>(std::min<size_t>(kSlots, maxBuffered_ - pending_));
        }
        for (unsigned i = 0; i < want; i++) {
          iovs[i] = {rx.get() + i * kSlotBytes, kSlotBytes};
          msgs[i].msg_hdr = {};
          msgs[i].msg_hdr.msg_name = &peers[i];
          msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_nl);
          msgs[i].msg_hdr.msg_iov = &iovs[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_len = 0;
        }
        const int n = recvmmsg(fd_, msgs.data(), want, MSG_DONTWAIT, nullptr);
        if (n < 0) {
          const int e = errno;
          if (e == EINTR) continue;
          if (e == EAGAIN || e == EWOULDBLOCK) break;
          if (e == ENOBUFS) {
            // The kernel dropped events it could not queue; the socket's
            // error is now cleared, and what did fit is still to be read.
            Publish(recs, 1, 0);
            continue;
          }
          Fatal(e, "recvmmsg");
          return;
        }
        size_t truncated = 0;
        double messages = 0, foreign = 0, parseErrors = 0, filtered = 0;
        for (int i = 0; i < n; i++) {
          if (peers[i].nl_pid != 0) {  // only the kernel sends events
            foreign++;
            continue;
          }
          if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            truncated++;
            continue;
          }
          const auto* m = reinterpret_cast<const struct nlmsghdr*>(rx.get() + static_cast<size_t>(i) * kSlotBytes);
          int rem = static_cast<int>(msgs[i].msg_len);
          for (; mnl_nlmsg_ok(m, rem); m = mnl_nlmsg_next(m, &rem)) {
            if (m->nlmsg_type < NLMSG_MIN_TYPE) continue;
            messages++;
            CtRecord r;
            if (!ParseCtRecord(m, &r)) {
              parseErrors++;
              continue;
            }
            if (!filter_.Allows(r.proto)) {
              filtered++;
              continue;
            }
            recs.push_back(r);
          }
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          stats_.recvCalls++;
          stats_.messages += messages;
          stats_.foreign += foreign;
          stats_.parseErrors += parseErrors;
          stats_.filtered += filtered;
          stats_.truncated += static_cast<double>(truncated);
        }
        Publish(recs, 0, truncated);
        if (static_cast<unsigned>(n) < want) break;
      }
    }
  }

  // Queues `recs` (emptied) and counts losses; wakes JS when it is not already awake.
  void Publish(std::vector<CtRecord>& recs, double enobufs, size_t truncated) {
    bool signal = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.events += static_cast<double>(recs.size());
      for (const CtRecord& r : recs) {
        if (pending_ >= maxBuffered_ && !reliable_) {
          stats_.dropped++;
          lostDropped_++;
          continue;
        }
        if (chunks_.empty() || chunks_.back().count >= maxBatch_) chunks_.emplace_back();
        chunks_.back().Append(r);
        pending_++;
      }
      stats_.maxPending = std::max(stats_.maxPending, static_cast<double>(pending_));
      stats_.enobufs += enobufs;
      lostEnobufs_ += enobufs;
      lostTruncated_ += static_cast<double>(truncated);
      const bool news = pending_ > 0 || lostEnobufs_ > 0 || lostDropped_ > 0 || lostTruncated_ > 0;
      if (news && !notified_) {
        notified_ = true;
        signal = true;
      }
    }
    recs.clear();
    if (signal) Wake();
  }

  void Fatal(int err, const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fatalErr_ = err;
      fatalMsg_ = "ConntrackEvents: " + what + " on the event socket failed: " + ErrnoText(err) +
                  "; no more events are read (close and open again)";
      notified_ = true;
    }
    Wake();
  }

  void Wake() {
    std::lock_guard<std::mutex> lock(boxMu_);
    if (box_ != nullptr) uv_async_send(&box_->async);
  }

  // ------------------------------------------------------------ JS thread

  static void OnAsync(uv_async_t* handle) {
    auto* self = static_cast<CtEvents*>(handle->data);
    if (self == nullptr || self->notify_.IsEmpty()) return;
    Napi::Env env(self->env_);
    Napi::HandleScope scope(env);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->stats_.wakeups++;
    }
    Napi::Function f = self->notify_.Value();
    try {
      f.MakeCallback(self->Value(), {}, *self->async_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(self->env_, e.Value());
    }
  }

  // take() -> { count, nums, addrs, offsets, enobufs, dropped, truncated, error? } | undefined
  // One chunk (at most maxBatch entries) and the losses since the last take.
  Napi::Value JsTake(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CtColumns chunk;
    double enobufs, dropped, truncated;
    int fatalErr = 0;
    std::string fatalMsg;
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!chunks_.empty()) {
        chunk = std::move(chunks_.front());
        chunks_.pop_front();
        pending_ -= chunk.count;
        stats_.delivered += static_cast<double>(chunk.count);
      }
      enobufs = lostEnobufs_;
      dropped = lostDropped_;
      truncated = lostTruncated_;
      lostEnobufs_ = lostDropped_ = lostTruncated_ = 0;
      if (fatalErr_ != 0 && !fatalReported_) {
        fatalReported_ = true;
        fatalErr = fatalErr_;
        fatalMsg = fatalMsg_;
      }
      more = !chunks_.empty();
      if (!more) notified_ = false;  // the reader wakes JS again when it queues more
    }
    if (reliable_) space_.notify_one();
    if (chunk.count == 0 && enobufs == 0 && dropped == 0 && truncated == 0 && fatalErr == 0) return env.Undefined();
    Napi::Object out = chunk.ToJs(env);
    out.Set("enobufs", Napi::Number::New(env, enobufs));
    out.Set("dropped", Napi::Number::New(env, dropped));
    out.Set("truncated", Napi::Number::New(env, truncated));
    out.Set("more", Napi::Boolean::New(env, more));
    if (fatalErr != 0) out.Set("error", MakeError(env, "CT_EVENTS", fatalMsg, {fatalErr}));
    return out;
  }

  Napi::Value JsStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    std::lock_guard<std::mutex> lock(mu_);
    auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
    num("messages", stats_.messages);
    num("events", stats_.events);
    num("filtered", stats_.filtered);
    num("delivered", stats_.delivered);
    num("pending", static_cast<double>(pending_));
    num("maxPending", stats_.maxPending);
    num("enobufs", stats_.enobufs);
    num("dropped", stats_.dropped);
    num("truncated", stats_.truncated);
    num("parseErrors", stats_.parseErrors);
    num("foreignMessages", stats_.foreign);
    num("recvCalls", stats_.recvCalls);
    num("wakeups", stats_.wakeups);
    num("rcvBufBytes", rcvBufActual_);
    o.Set("rcvBufForced", Napi::Boolean::New(env, rcvBufForced_));
    o.Set("reliable", Napi::Boolean::New(env, reliable_));
    num("portId", portid_);
    return o;
  }

  Napi::Value JsClose(const Napi::CallbackInfo& info) {
    Close();
    notify_.Reset();
    if (selfRef_) {
      selfRef_ = false;
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    if (box_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&box_->async));
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    if (box_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&box_->async));
    return info.Env().Undefined();
  }

  Napi::Value JsIsClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), closed_); }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
    auto* self = static_cast<CtEvents*>(arg);
    self->cleanupHook_ = nullptr;  // `handle` is removed once the uv handle is closed
    self->Close(handle);
  }

  // Stops the thread, closes the socket and the async handle. What was
  // queued stays takeable. Idempotent.
  void Close(napi_async_cleanup_hook_handle hook = nullptr) {
    if (closed_) {
      if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
      return;
    }
    closed_ = true;
    if (cleanupHook_ != nullptr) {
      napi_remove_async_cleanup_hook(cleanupHook_);
      cleanupHook_ = nullptr;
    }
    {
      // Under the lock: a reader that just found the queue full must not miss this before it waits.
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    if (wakeFd_ >= 0) {
      const uint64_t one = 1;
      ssize_t ignored = write(wakeFd_, &one, sizeof one);
      (void)ignored;
    }
    space_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (nl_ != nullptr) mnl_socket_close(nl_);
    nl_ = nullptr;
    fd_ = -1;
    if (wakeFd_ >= 0) close(wakeFd_);
    wakeFd_ = -1;
    AsyncBox* box;
    {
      std::lock_guard<std::mutex> lock(boxMu_);
      box = box_;
      box_ = nullptr;
    }
    if (box != nullptr) {
      box->async.data = nullptr;
      box->hookDone = hook;
      uv_close(reinterpret_cast<uv_handle_t*>(&box->async), [](uv_handle_t* h) {
        auto* b = reinterpret_cast<AsyncBox*>(h);
        if (b->hookDone != nullptr) napi_remove_async_cleanup_hook(b->hookDone);
        delete b;
      });
    } else if (hook != nullptr) {
      napi_remove_async_cleanup_hook(hook);
    }
  }

  napi_env env_ = nullptr;
  // configuration
  uint32_t rcvBuf_ = 0, maxBuffered_ = 0, maxBatch_ = 0;
  bool reliable_ = false;
  CtProtocolFilter filter_;
  int rcvBufActual_ = 0;
  bool rcvBufForced_ = false;
  uint32_t portid_ = 0;
  // socket and thread
  struct mnl_socket* nl_ = nullptr;
  int fd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  // shared with the thread (mu_)
  std::mutex mu_;
  std::condition_variable space_;
  std::deque<CtColumns> chunks_;
  size_t pending_ = 0;
  bool notified_ = false;
  double lostEnobufs_ = 0, lostDropped_ = 0, lostTruncated_ = 0;
  int fatalErr_ = 0;
  bool fatalReported_ = false;
  std::string fatalMsg_;
  EventStats stats_;
  // JS side
  std::mutex boxMu_;  // box_ is read by the thread (Wake) and cleared by Close
  AsyncBox* box_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  bool closed_ = true;
  bool selfRef_ = false;
  Napi::FunctionReference notify_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace

void InitConntrackEvents(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeConntrackEvents", CtEvents::Define(env));
}

}  // namespace l7nfq
