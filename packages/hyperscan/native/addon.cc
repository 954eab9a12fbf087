// Module entry: per-environment data, then the two wrapped classes.
#include "common.h"

namespace l7hs {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());  // deleted by node-addon-api at env teardown
  exports.Set("setErrorFactory", Napi::Function::New<SetErrorFactory>(env, "setErrorFactory"));
  InitDatabase(env, exports);
  InitStreamSet(env, exports);
  return exports;
}

NODE_API_MODULE(l7hs, Init)

}  // namespace l7hs
