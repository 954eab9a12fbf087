// Error construction and argument readers. Errors are built by a JS factory so
// native code throws real HyperscanError instances (instanceof works, with
// `code`), without the TS layer wrapping every call in try/catch.
#include "common.h"

namespace l7hs {

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "setErrorFactory needs a function");
  }
  auto* data = info.Env().GetInstanceData<AddonData>();
  data->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

void Fail(Napi::Env env, const char* code, const std::string& msg, int expressionIndex,
          int64_t patternId) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->errorFactory.IsEmpty()) {
    // Only reachable if the addon is used without src/native.ts.
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    throw e;
  }
  Napi::Value undef = env.Undefined();
  Napi::Value err = data->errorFactory.Call({
      Napi::String::New(env, code),
      Napi::String::New(env, msg),
      expressionIndex >= 0 ? Napi::Number::New(env, expressionIndex) : undef,
      patternId >= 0 ? Napi::Number::New(env, static_cast<double>(patternId)) : undef,
  });
  throw Napi::Error(env, err);
}

const char* HsErrorName(hs_error_t err) {
  switch (err) {
    case HS_INVALID: return "HS_INVALID (invalid parameter)";
    case HS_NOMEM: return "HS_NOMEM (out of memory)";
    case HS_SCAN_TERMINATED: return "HS_SCAN_TERMINATED";
    case HS_COMPILER_ERROR: return "HS_COMPILER_ERROR";
    case HS_DB_VERSION_ERROR: return "HS_DB_VERSION_ERROR (database built by another libhs version)";
    case HS_DB_PLATFORM_ERROR: return "HS_DB_PLATFORM_ERROR (database built for another platform)";
    case HS_DB_MODE_ERROR: return "HS_DB_MODE_ERROR (wrong database mode)";
    case HS_BAD_ALIGN: return "HS_BAD_ALIGN";
    case HS_BAD_ALLOC: return "HS_BAD_ALLOC";
    case HS_SCRATCH_IN_USE: return "HS_SCRATCH_IN_USE";
    case HS_ARCH_ERROR: return "HS_ARCH_ERROR (CPU lacks required instructions)";
    case HS_INSUFFICIENT_SPACE: return "HS_INSUFFICIENT_SPACE";
    default: return "HS_UNKNOWN_ERROR";
  }
}

void FailHs(Napi::Env env, const char* code, const std::string& what, hs_error_t err) {
  const bool nomem = err == HS_NOMEM || err == HS_BAD_ALLOC;
  Fail(env, nomem ? "HS_NOMEM" : code, what + " failed: " + HsErrorName(err));
}

static const char kEmpty = 0;

Bytes ReadBytes(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Fail(env, "HS_INVALID_ARGUMENT", std::string(name) + " must be a Uint8Array");
  }
  auto arr = v.As<Napi::Uint8Array>();
  size_t n = arr.ElementLength();
  // libhs takes `unsigned int` lengths.
  if (n > UINT32_MAX) Fail(env, "HS_INVALID_ARGUMENT", std::string(name) + " is larger than 4 GiB");
  const char* p = reinterpret_cast<const char*>(arr.Data());
  return {p != nullptr && n > 0 ? p : &kEmpty, n};
}

U32s ReadU32s(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Fail(env, "HS_INVALID_ARGUMENT", std::string(name) + " must be a Uint32Array");
  }
  auto arr = v.As<Napi::Uint32Array>();
  return {arr.Data(), arr.ElementLength()};
}

int IdCollector::OnMatch(unsigned int id, unsigned long long, unsigned long long, unsigned int,
                         void* ctx) {
  auto* self = static_cast<IdCollector*>(ctx);
  // Linear dedupe: a chunk matches few distinct ids, cheaper than hashing.
  for (uint32_t seen : self->ids) {
    if (seen == id) return 0;
  }
  try {
    self->ids.push_back(id);
  } catch (...) {
    self->oom = true;
    return 1;  // stop the scan; the caller reports HS_NOMEM
  }
  return 0;
}

Napi::Array ToArray(Napi::Env env, const std::vector<uint32_t>& ids) {
  Napi::Array out = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) out.Set(static_cast<uint32_t>(i), ids[i]);
  return out;
}

}  // namespace l7hs
