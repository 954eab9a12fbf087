// Shared declarations of the l7nfq addon: per-environment data, error helpers
// and argument readers used by the queue and conntrack parts.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>

// libnftables' context, declared here at global scope so that files not
// including <nftables/libnftables.h> name the same type.
struct nft_ctx;

namespace l7nfq {

class ElementSocket;  // setelem.h

// Per-environment state (each worker thread loads its own copy).
struct AddonData {
  Napi::FunctionReference errorFactory;  // (code, message, errno?, queue?, index?) => NfqueueError
  struct mnl_socket* ct = nullptr;       // lazily opened ctnetlink socket
  uint32_t ctSeq = 0;
  struct nft_ctx* nft = nullptr;         // lazily created libnftables context (nft.cc)
  ElementSocket* elementSocket = nullptr;  // lazily created socket of nftApplyElements and nftGetElements (setelem.h)
  ~AddonData();
};

// Extra context attached to an error.
struct ErrorInfo {
  int err = 0;       // errno, 0 = none
  int queue = -1;    // queue number, -1 = none
  int64_t index = -1;  // array index of the offending element, -1 = none
};

// Builds an NfqueueError through the JS factory (plain Error if none registered).
Napi::Value MakeError(Napi::Env env, const char* code, const std::string& msg, const ErrorInfo& info = {});
// Throws an NfqueueError.
[[noreturn]] void Fail(Napi::Env env, const char* code, const std::string& msg, const ErrorInfo& info = {});
// "ENOENT (No such file or directory)".
std::string ErrnoText(int err);
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);
// A typed array over the memory of `v` (a vector, or a string as bytes),
// which it keeps until collected: the JS thread neither copies nor
// page-faults megabytes that a worker filled (copying 100k elements' worth
// held it ~30 ms).
template <typename E, typename Container>
Napi::TypedArrayOf<E> HandOver(Napi::Env env, Container&& v) {
  static_assert(sizeof(typename Container::value_type) == sizeof(E), "one element per array slot");
  if (v.empty()) return Napi::TypedArrayOf<E>::New(env, 0);
  auto* owned = new Container(std::move(v));
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
      env, owned->data(), owned->size() * sizeof(E), [](Napi::Env, void*, Container* o) { delete o; }, owned);
  return Napi::TypedArrayOf<E>::New(env, owned->size(), buf, 0);
}

// Address text: dotted quad (without printf) or inet_ntop's IPv6 form (setelem.cc).
void AppendAddress(std::string& out, const uint8_t* a, bool v6);

// Argument readers: throw NFQ_INVALID_ARGUMENT naming `what` on bad input.
uint32_t ReadU32(Napi::Env env, Napi::Value v, const std::string& what, uint32_t min, uint32_t max);
bool ReadBool(Napi::Env env, Napi::Value v, const std::string& what, bool dflt);
Napi::Value Prop(Napi::Object o, const char* name);

void InitQueue(Napi::Env env, Napi::Object exports);
void InitConntrack(Napi::Env env, Napi::Object exports);
void InitNft(Napi::Env env, Napi::Object exports);
void InitSetDump(Napi::Env env, Napi::Object exports);
void FreeNftContext(struct nft_ctx* ctx);
void FreeElementSocket(ElementSocket* s);

}  // namespace l7nfq
