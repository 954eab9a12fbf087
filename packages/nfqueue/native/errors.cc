// Error construction and argument readers. Errors are built by a JS factory so
// native code throws real NfqueueError instances (instanceof works, with
// `code`, `errno`, `queue`), without the TS layer wrapping every call.
#include <cmath>
#include <cstring>

#include "common.h"

namespace l7nfq {

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorFactory needs a function");
  }
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  std::string out = name != nullptr ? name : ("errno " + std::to_string(err));
  out += " (";
  out += strerror(err);
  out += ")";
  return out;
}

Napi::Value MakeError(Napi::Env env, const char* code, const std::string& msg, const ErrorInfo& info) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->errorFactory.IsEmpty()) {
    // Only reachable if the addon is used without src/native.ts.
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    return e.Value();
  }
  Napi::Value undef = env.Undefined();
  return data->errorFactory.Call({
      Napi::String::New(env, code),
      Napi::String::New(env, msg),
      info.err != 0 ? Napi::Number::New(env, info.err) : undef,
      info.queue >= 0 ? Napi::Number::New(env, info.queue) : undef,
      info.index >= 0 ? Napi::Number::New(env, static_cast<double>(info.index)) : undef,
  });
}

void Fail(Napi::Env env, const char* code, const std::string& msg, const ErrorInfo& info) {
  throw Napi::Error(env, MakeError(env, code, msg, info));
}

uint32_t ReadU32(Napi::Env env, Napi::Value v, const std::string& what, uint32_t min, uint32_t max) {
  if (!v.IsNumber()) {
    Fail(env, "NFQ_INVALID_ARGUMENT", what + " must be an integer, got " + (v.IsUndefined() ? "undefined" : "a non-number"));
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    Fail(env, "NFQ_INVALID_ARGUMENT",
         what + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) + ", got " + buf);
  }
  return static_cast<uint32_t>(d);
}

bool ReadBool(Napi::Env env, Napi::Value v, const std::string& what, bool dflt) {
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsBoolean()) Fail(env, "NFQ_INVALID_ARGUMENT", what + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Napi::Value Prop(Napi::Object o, const char* name) { return o.Get(name); }

}  // namespace l7nfq
