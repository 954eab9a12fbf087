// Module entry: per-environment data, the error factory, the queue class,
// the conntrack functions, the libnftables runner, and the set-element dump,
// writes and reads.
#include "common.h"
#include "ctnetlink.h"
#include "setread.h"
#include "setwrite.h"

namespace l7nfq {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());  // deleted by node-addon-api at env teardown
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  InitQueue(env, exports);
  InitConntrack(env, exports);
  InitConntrackQuery(env, exports);
  InitConntrackEvents(env, exports);
  InitNft(env, exports);
  InitSetDump(env, exports);
  InitSetWrite(env, exports);
  InitSetRead(env, exports);
  return exports;
}

NODE_API_MODULE(l7nfq, Init)

}  // namespace l7nfq
