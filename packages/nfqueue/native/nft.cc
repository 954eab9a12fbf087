// nftRun: an nft script run through libnftables inside this process, for the
// stateless edge's hot path (verdict-map element updates) where spawning
// `nft` per batch would cost a fork and a full ruleset parse each time.
//
// The script goes through a memfd and nft_run_cmd_from_filename, not
// nft_run_cmd_from_buffer: for buffer input nft 1.0.6 prints an error
// against the buffer's FIRST line whatever line it concerns, so the caller
// could not tell which element of a batch failed; for a file it names
// `file:line:column` and shows the right line.
//
// One nft_ctx per environment, created on first use and freed at environment
// teardown (process exit). Its netlink socket is opened with the context, so
// the commands act on the network namespace the process was in at the first
// call. libnftables is synchronous: the call blocks the JS thread while the
// kernel commits the transaction.
#include <nftables/libnftables.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common.h"

namespace l7nfq {

void FreeNftContext(struct nft_ctx* ctx) {
  if (ctx != nullptr) nft_ctx_free(ctx);
}

namespace {

struct nft_ctx* NftContext(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data->nft != nullptr) return data->nft;
  struct nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) Fail(env, "NFT", "nft_ctx_new failed (out of memory, or no netlink socket)");
  // Output and errors into buffers, not the process's stdout/stderr.
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    Fail(env, "NFT", "libnftables: cannot buffer output");
  }
  data->nft = ctx;
  return ctx;
}

// Reading a buffer rewinds it, so the next run starts empty.
std::string TakeBuffer(const char* buf) { return buf != nullptr ? std::string(buf) : std::string(); }

// A closed-on-exit anonymous file holding `text`, read by nft by name.
class ScriptFile {
 public:
  ScriptFile(Napi::Env env, const std::string& text) {
    fd_ = memfd_create("l7nfq-nft", MFD_CLOEXEC);
    if (fd_ < 0) {
      const int e = errno;
      Fail(env, "NFT", "memfd_create failed: " + ErrnoText(e), {e});
    }
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int e = errno;
        close(fd_);
        Fail(env, "NFT", "writing the nft script failed: " + ErrnoText(e), {e});
      }
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~ScriptFile() { close(fd_); }
  ScriptFile(const ScriptFile&) = delete;
  ScriptFile& operator=(const ScriptFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace

// nftRun(commands: string, json?: boolean) -> string (nft's standard output).
// Throws NFT with nft's own error text (`input:LINE:COLUMNS: Error: ...`, the
// offending line and its position markers) when nft fails.
static Napi::Value NftRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) Fail(env, "NFQ_INVALID_ARGUMENT", "nftRun: commands must be a string");
  const std::string commands = info[0].As<Napi::String>().Utf8Value();
  // nft reads the script as text: a NUL would silently cut it short.
  if (commands.find('\0') != std::string::npos) Fail(env, "NFQ_INVALID_ARGUMENT", "nftRun: commands contain a NUL character");
  const bool json = ReadBool(env, info[1], "nftRun: json", false);

  struct nft_ctx* ctx = NftContext(env);
  const unsigned int flags = nft_ctx_output_get_flags(ctx);
  nft_ctx_output_set_flags(ctx, json ? (flags | NFT_CTX_OUTPUT_JSON) : (flags & ~static_cast<unsigned int>(NFT_CTX_OUTPUT_JSON)));
  int rc;
  std::string prefix;
  {
    ScriptFile file(env, commands);
    prefix = file.path() + ":";
    rc = nft_run_cmd_from_filename(ctx, file.path().c_str());
  }
  std::string out = TakeBuffer(nft_ctx_get_output_buffer(ctx));
  std::string err = TakeBuffer(nft_ctx_get_error_buffer(ctx));
  if (!out.empty() || rc != 0) {
    // Something was listed (or tried to be), so the context's cache may now
    // hold every element of the sets it read (nft 1.0.6 reads all of them
    // for `list counter`), and it would fetch them again on every later
    // call: measured with 100k map elements, one element add went from about
    // 20 ms to 200 ms. A fresh context costs a few milliseconds at most.
    nft_ctx_free(ctx);
    env.GetInstanceData<AddonData>()->nft = nullptr;
  }
  if (rc != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    // The memfd's name means nothing to the caller.
    for (size_t at = err.find(prefix); at != std::string::npos; at = err.find(prefix, at)) err.replace(at, prefix.size(), "input:");
    Fail(env, "NFT", err.empty() ? "nft failed without a message" : err);
  }
  return Napi::String::New(env, out);
}

void InitNft(Napi::Env env, Napi::Object exports) {
  exports.Set("nftRun", Napi::Function::New<NftRun>(env, "nftRun"));
}

}  // namespace l7nfq
