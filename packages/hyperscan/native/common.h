// Shared declarations of the l7hs addon: the libhs handle owner (Core), the
// error helpers and the argument readers used by both wrapped classes.
#pragma once

#include <hs.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace l7hs {

// Owns one compiled database and its scratch. Shared (shared_ptr) between the
// Database wrapper and every StreamSet built on it, so db.close() or the GC
// collecting the Database never frees bytecode that open streams still point to.
struct Core {
  hs_database_t* db = nullptr;
  hs_scratch_t* scratch = nullptr;  // one per database; Node is single-threaded
  bool stream = false;              // HS_MODE_STREAM vs HS_MODE_BLOCK
  napi_env env = nullptr;
  int64_t external = 0;  // bytes reported to V8 so GC sees native pressure
  Core();
  ~Core();
};
// Number of live Cores (process-wide), exported for leak tests.
Napi::Value LiveDatabases(const Napi::CallbackInfo& info);

// Builds a Core from a fresh database: allocates scratch, reports memory.
// Takes ownership of db even when it throws.
std::shared_ptr<Core> MakeCore(Napi::Env env, hs_database_t* db, bool stream);

// Throws a HyperscanError (via the factory registered from JS).
[[noreturn]] void Fail(Napi::Env env, const char* code, const std::string& msg,
                       int expressionIndex = -1, int64_t patternId = -1);
// Throws for a failed libhs call: HS_NOMEM for allocation failures, else code.
[[noreturn]] void FailHs(Napi::Env env, const char* code, const std::string& what,
                         hs_error_t err);
const char* HsErrorName(hs_error_t err);
Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);

// A validated view of a Uint8Array/Buffer argument. `data` is never null (libhs
// rejects NULL even for zero-length input), so empty arrays point at a dummy.
struct Bytes {
  const char* data;
  size_t length;
};
Bytes ReadBytes(Napi::Env env, Napi::Value v, const char* name);
// A validated Uint32Array argument.
struct U32s {
  const uint32_t* data;
  size_t length;
};
U32s ReadU32s(Napi::Env env, Napi::Value v, const char* name);

// Match-callback contexts. Callbacks run inside libhs' C code, so they must
// not throw: allocation failure is recorded and scanning is stopped instead.
struct IdCollector {
  std::vector<uint32_t> ids;  // distinct ids in report order
  bool oom = false;
  static int OnMatch(unsigned int id, unsigned long long from, unsigned long long to,
                     unsigned int flags, void* ctx);
};
Napi::Array ToArray(Napi::Env env, const std::vector<uint32_t>& ids);

// Type tag of native database objects, so a StreamSet can never be handed some
// other wrapped object and reinterpret it.
extern const napi_type_tag kDatabaseTag;

// The live Core behind a native database object; throws HS_INVALID_ARGUMENT
// for anything else and for a closed database.
std::shared_ptr<Core> CoreOf(Napi::Env env, Napi::Value v);

void InitDatabase(Napi::Env env, Napi::Object exports);
void InitStreamSet(Napi::Env env, Napi::Object exports);

// Per-environment state (worker threads each load their own copy).
struct AddonData {
  Napi::FunctionReference errorFactory;
  Napi::FunctionReference databaseCtor;
};

}  // namespace l7hs
