// NativeQueue: one netlink socket bound to one or more NFQUEUE numbers, polled
// from libuv and drained in batches (rx.cc), with single and batched verdicts
// (queue.cc).
//
// Design: ONE socket for all queues of an instance. The JS side is a single
// thread, so several sockets would only add syscalls and wake-ups; with one
// socket a single recvmmsg() drains packets of every queue of a
// `--queue-balance a:b` range into one batch and one JS callback, and verdicts
// for mixed queues go out in one sendto(). Parallelism across cores is had by
// opening disjoint queue ranges in separate processes.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <uv.h>

#include <bitset>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace l7nfq {

// Packets parsed during one wake-up, column-wise (becomes a PacketBatch).
struct Batch {
  std::vector<uint32_t> ids, marks, inIf, outIf, offsets, lengths, origLens;
  std::vector<uint16_t> queues, hwProto;
  std::vector<uint8_t> hooks, skbInfo;
  std::vector<double> tsUs;
  std::vector<uint8_t> data;
  size_t size() const { return ids.size(); }
  void clear();
};

struct Stats {
  double packets = 0, bytes = 0, batches = 0, recvCalls = 0, enobufs = 0;
  double verdicts = 0, verdictSends = 0, verdictMessages = 0, verdictErrors = 0, quietErrors = 0;
  double truncated = 0, parseErrors = 0, foreign = 0, socketErrors = 0, largestBatch = 0;
  double errorsDropped = 0;
};

struct PendingError {
  const char* code;
  std::string message;
  ErrorInfo info;
};

// The uv handle outlives the queue object until libuv's close callback.
struct PollBox {
  uv_poll_t poll;
  napi_async_cleanup_hook_handle hookDone = nullptr;  // set when closed by env teardown
};

class NativeQueue : public Napi::ObjectWrap<NativeQueue> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeQueue(const Napi::CallbackInfo& info);
  ~NativeQueue() override;

 private:
  // --- JS methods (queue.cc)
  Napi::Value JsVerdict(const Napi::CallbackInfo& info);
  Napi::Value JsVerdictBatch(const Napi::CallbackInfo& info);
  Napi::Value JsVerdictUpTo(const Napi::CallbackInfo& info);
  Napi::Value JsFlush(const Napi::CallbackInfo& info);
  Napi::Value JsStats(const Napi::CallbackInfo& info);
  Napi::Value JsClose(const Napi::CallbackInfo& info);
  Napi::Value JsRef(const Napi::CallbackInfo& info);
  Napi::Value JsUnref(const Napi::CallbackInfo& info);
  Napi::Value JsIsClosed(const Napi::CallbackInfo& info);
  Napi::Value JsPortId(const Napi::CallbackInfo& info);

  // --- lifecycle (queue.cc)
  void Setup(Napi::Env env);
  void BindQueue(Napi::Env env, uint16_t queue);
  // Waits (blocking, SO_RCVTIMEO-bounded) for the ack of `seq`; packets that
  // arrive meanwhile are parsed into the batch. Returns 0 or an errno.
  int WaitAck(uint32_t seq);
  void Close(bool acceptPending, napi_async_cleanup_hook_handle hook = nullptr);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  void CheckOpen(Napi::Env env, const char* call);
  uint16_t ReadBoundQueue(Napi::Env env, Napi::Value v, const std::string& what);
  std::string QueueList() const;
  uint32_t NextSeq();

  // --- verdict encoding (queue.cc)
  // Appends one verdict message at txBuf_[txLen_]; grows the buffer.
  void PutVerdict(int type, uint16_t queue, uint32_t id, uint32_t verdict, bool setMark, uint32_t mark,
                  uint32_t seq);
  // Sends txBuf_[0..txLen_) in one sendto(); returns 0 or errno.
  int SendTx();
  // Best-effort ACCEPT whose kernel error (if any) is not reported (seq 0).
  void QuietAccept(uint16_t queue, uint32_t id);

  // --- receive path (rx.cc)
  static void OnPoll(uv_poll_t* handle, int status, int events);
  bool RecoverPoll(int status);
  void ReadAndDeliver();
  // Parses one received datagram. If ackSeq != 0 and its ack is found, sets
  // *ackErr (0 or errno) and *ackFound.
  void ParseDatagram(const char* buf, size_t len, bool truncated, uint32_t ackSeq = 0, int* ackErr = nullptr,
                     bool* ackFound = nullptr);
  void ParsePacket(const struct nlmsghdr* nlh);
  void ParseError(const struct nlmsghdr* nlh, uint32_t ackSeq, int* ackErr, bool* ackFound);
  void AcceptTruncated(const char* buf, size_t len);
  void NoteId(uint16_t queue, uint32_t id);
  void QueueError(const char* code, std::string message, ErrorInfo info);
  void Deliver();
  // Copies batch_ into meta_ and data_ (grown when too small); *capacity: meta_'s, in packets.
  void FillBatchBuffers(Napi::Env env, size_t* capacity);
  void CallJs(Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  void DrainForClose();

  napi_env env_ = nullptr;
  struct mnl_socket* nl_ = nullptr;
  int fd_ = -1;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  PollBox* box_ = nullptr;
  napi_async_cleanup_hook_handle cleanupHook_ = nullptr;
  bool closed_ = true;
  bool delivering_ = false;
  bool selfRef_ = false;
  bool unref_ = false;
  bool acceptOnTeardown_ = true;

  // configuration
  std::vector<uint16_t> queues_;
  std::bitset<65536> bound_;
  uint32_t copyRange_ = 0xffff, maxLen_ = 1024, maxBatch_ = 1024, rcvBuf_ = 0;
  bool failOpen_ = true, gso_ = true;
  int rcvBufActual_ = 0;
  bool rcvBufForced_ = false;

  // receive buffers: vlen_ slots of slot_ bytes for recvmmsg()
  size_t slot_ = 0;
  unsigned vlen_ = 0;
  std::unique_ptr<char[]> rx_;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iovs_;
  std::vector<struct sockaddr_nl> peers_;

  Batch batch_;
  std::unordered_map<uint16_t, uint32_t> maxId_;  // highest packet id seen per queue
  std::vector<PendingError> errs_;
  std::vector<char> txBuf_;
  size_t txLen_ = 0;
  Stats stats_;

  Napi::FunctionReference onBatch_;
  // The batch buffers handed to onBatch, kept between batches (FillBatchBuffers).
  Napi::Reference<Napi::ArrayBuffer> meta_;
  Napi::Reference<Napi::ArrayBuffer> data_;
  size_t metaCapacity_ = 0;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace l7nfq
