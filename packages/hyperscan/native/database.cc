// NativeDatabase: a compiled (or deserialized) libhs database plus its scratch,
// with block-mode scanning. Created only by compile() / deserialize().
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace l7hs {

const napi_type_tag kDatabaseTag = {0x6c37687364625f31ULL, 0x9a1c3e5f7b2d4c81ULL};

static std::atomic<int64_t> liveCores{0};

Napi::Value LiveDatabases(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(liveCores.load()));
}

Core::Core() { liveCores++; }

Core::~Core() {
  liveCores--;
  if (scratch != nullptr) hs_free_scratch(scratch);
  if (db != nullptr) hs_free_database(db);
  if (external != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -external);
}

std::shared_ptr<Core> MakeCore(Napi::Env env, hs_database_t* db, bool stream) {
  std::shared_ptr<Core> core;
  try {
    core = std::make_shared<Core>();
  } catch (...) {
    hs_free_database(db);
    Fail(env, "HS_NOMEM", "out of memory allocating database handle");
  }
  core->db = db;  // owned from here on: freed by ~Core on any throw below
  core->stream = stream;
  core->env = env;
  hs_error_t err = hs_alloc_scratch(db, &core->scratch);
  if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "hs_alloc_scratch", err);
  size_t dbSize = 0, scratchSize = 0;
  hs_database_size(db, &dbSize);
  hs_scratch_size(core->scratch, &scratchSize);
  // Tell V8 about the native bytes, so unclosed databases get collected
  // under memory pressure instead of piling up invisibly.
  core->external = static_cast<int64_t>(dbSize + scratchSize);
  Napi::MemoryManagement::AdjustExternalMemory(env, core->external);
  return core;
}

namespace {

struct BlockHits {
  std::vector<std::pair<uint32_t, unsigned long long>> hits;
  bool oom = false;
  static int OnMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                     void* ctx) {
    auto* self = static_cast<BlockHits*>(ctx);
    try {
      self->hits.emplace_back(id, to);
    } catch (...) {
      self->oom = true;
      return 1;
    }
    return 0;
  }
};

class NativeDatabase : public Napi::ObjectWrap<NativeDatabase> {
 public:
  std::shared_ptr<Core> core;  // null once closed

  explicit NativeDatabase(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeDatabase>(info) {
    info.This().As<Napi::Object>().TypeTag(&kDatabaseTag);
  }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeDatabase",
                       {
                           InstanceMethod<&NativeDatabase::Scan>("scan"),
                           InstanceMethod<&NativeDatabase::Serialize>("serialize"),
                           InstanceMethod<&NativeDatabase::Size>("size"),
                           InstanceMethod<&NativeDatabase::Info>("info"),
                           InstanceMethod<&NativeDatabase::IsStream>("isStream"),
                           InstanceMethod<&NativeDatabase::Close>("close"),
                       });
  }

  Core& Live(Napi::Env env) {
    if (!core) Fail(env, "HS_INVALID_ARGUMENT", "database is closed");
    return *core;
  }

  Napi::Value Scan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& c = Live(env);
    if (c.stream) Fail(env, "HS_INVALID_ARGUMENT", "scan() needs a block-mode database; use a StreamSet");
    Bytes in = ReadBytes(env, info[0], "data");
    BlockHits ctx;
    hs_error_t err = hs_scan(c.db, in.data, static_cast<unsigned int>(in.length), 0, c.scratch,
                             &BlockHits::OnMatch, &ctx);
    if (ctx.oom) Fail(env, "HS_NOMEM", "out of memory collecting matches");
    if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "hs_scan", err);
    Napi::Array out = Napi::Array::New(env, ctx.hits.size());
    for (size_t i = 0; i < ctx.hits.size(); i++) {
      Napi::Object m = Napi::Object::New(env);
      m.Set("id", ctx.hits[i].first);
      m.Set("to", static_cast<double>(ctx.hits[i].second));
      out.Set(static_cast<uint32_t>(i), m);
    }
    return out;
  }

  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    char* bytes = nullptr;
    size_t length = 0;
    hs_error_t err = hs_serialize_database(Live(env).db, &bytes, &length);
    if (err != HS_SUCCESS) FailHs(env, "HS_INVALID_ARGUMENT", "hs_serialize_database", err);
    // libhs allocated with its misc allocator (malloc by default): copy, free.
    Napi::Buffer<char> out = Napi::Buffer<char>::Copy(env, bytes, length);
    std::free(bytes);
    return out;
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    size_t size = 0;
    hs_database_size(Live(info.Env()).db, &size);
    return Napi::Number::New(info.Env(), static_cast<double>(size));
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    char* text = nullptr;
    hs_error_t err = hs_database_info(Live(env).db, &text);
    if (err != HS_SUCCESS) FailHs(env, "HS_INVALID_ARGUMENT", "hs_database_info", err);
    Napi::String out = Napi::String::New(env, text);
    std::free(text);
    return out;
  }

  Napi::Value IsStream(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), Live(info.Env()).stream);
  }

  // Drops this handle's share; libhs memory goes once no StreamSet holds it.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    core.reset();
    return info.Env().Undefined();
  }
};

Napi::Object Wrap(Napi::Env env, std::shared_ptr<Core> core) {
  Napi::Object obj = env.GetInstanceData<AddonData>()->databaseCtor.New({});
  NativeDatabase::Unwrap(obj)->core = std::move(core);
  return obj;
}

// compile(expressions: Uint8Array[], flags: Uint32Array, ids: Uint32Array, stream: boolean)
Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) Fail(env, "HS_INVALID_ARGUMENT", "expressions must be an array");
  Napi::Array list = info[0].As<Napi::Array>();
  U32s f = ReadU32s(env, info[1], "flags");
  U32s d = ReadU32s(env, info[2], "ids");
  const size_t n = list.Length();
  if (n == 0) Fail(env, "HS_INVALID_ARGUMENT", "at least one pattern is required");
  if (f.length != n || d.length != n) {
    Fail(env, "HS_INVALID_ARGUMENT", "expressions, flags and ids must have the same length");
  }
  // Copied before list.Get() below can run arbitrary JS (getters) on the arrays.
  const std::vector<unsigned int> flags(f.data, f.data + n), ids(d.data, d.data + n);
  const bool stream = info[3].ToBoolean();
  unsigned int mode = stream ? HS_MODE_STREAM : HS_MODE_BLOCK;
  // libhs needs NUL-terminated copies of the expressions.
  std::vector<std::string> exprs(n);
  std::vector<const char*> ptrs(n);
  for (size_t i = 0; i < n; i++) {
    Bytes b = ReadBytes(env, list.Get(static_cast<uint32_t>(i)), "expression");
    if (std::memchr(b.data, 0, b.length) != nullptr) {
      Fail(env, "HS_INVALID_ARGUMENT", "expression " + std::to_string(i) + " contains a NUL byte",
           static_cast<int>(i), ids[i]);
    }
    // Ids come back through Int32Array in scanBatch, so keep them non-negative int32.
    if (ids[i] > INT32_MAX) {
      Fail(env, "HS_INVALID_ARGUMENT", "pattern id must be <= 2^31-1", static_cast<int>(i));
    }
    exprs[i].assign(b.data, b.length);
    ptrs[i] = exprs[i].c_str();
    // Start-of-match in stream mode requires a SOM horizon in the mode.
    if (stream && (flags[i] & HS_FLAG_SOM_LEFTMOST)) mode |= HS_MODE_SOM_HORIZON_LARGE;
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* cerr = nullptr;
  hs_error_t err = hs_compile_multi(ptrs.data(), flags.data(), ids.data(), static_cast<unsigned int>(n),
                                    mode, nullptr, &db, &cerr);
  if (err != HS_SUCCESS) {
    std::string reason = cerr != nullptr ? cerr->message : HsErrorName(err);
    int index = cerr != nullptr ? cerr->expression : -1;
    hs_free_compile_error(cerr);
    if (index >= 0 && static_cast<size_t>(index) < n) {
      std::string shown = exprs[index].size() > 200 ? exprs[index].substr(0, 200) + "..." : exprs[index];
      Fail(env, "HS_COMPILE",
           "pattern id " + std::to_string(ids[index]) + " (expression " + std::to_string(index) + ") /" +
               shown + "/ failed to compile: " + reason,
           index, ids[index]);
    }
    Fail(env, "HS_COMPILE", "pattern set failed to compile: " + reason);
  }
  return Wrap(env, MakeCore(env, db, stream));
}

Napi::Value Deserialize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes in = ReadBytes(env, info[0], "bytes");
  hs_database_t* db = nullptr;
  // libhs checks magic, version, platform, length and the bytecode CRC.
  hs_error_t err = hs_deserialize_database(in.data, in.length, &db);
  if (err != HS_SUCCESS) FailHs(env, "HS_DESERIALIZE", "hs_deserialize_database", err);
  // The mode is only exposed through the info text ("... Mode: STREAM").
  char* text = nullptr;
  err = hs_database_info(db, &text);
  std::string desc(err == HS_SUCCESS ? text : "");
  std::free(text);
  const bool stream = desc.find("Mode: STREAM") != std::string::npos;
  if (!stream && desc.find("Mode: BLOCK") == std::string::npos) {
    hs_free_database(db);
    Fail(env, "HS_DESERIALIZE", "unsupported database mode (only block and stream): " + desc);
  }
  return Wrap(env, MakeCore(env, db, stream));
}

}  // namespace

std::shared_ptr<Core> CoreOf(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kDatabaseTag)) {
    Fail(env, "HS_INVALID_ARGUMENT", "expected a Database");
  }
  NativeDatabase* self = NativeDatabase::Unwrap(v.As<Napi::Object>());
  self->Live(env);
  return self->core;
}

void InitDatabase(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NativeDatabase::Define(env);
  env.GetInstanceData<AddonData>()->databaseCtor = Napi::Persistent(ctor);
  exports.Set("NativeDatabase", ctor);
  exports.Set("compile", Napi::Function::New<Compile>(env, "compile"));
  exports.Set("deserialize", Napi::Function::New<Deserialize>(env, "deserialize"));
  exports.Set("liveDatabases", Napi::Function::New<LiveDatabases>(env, "liveDatabases"));
}

}  // namespace l7hs
