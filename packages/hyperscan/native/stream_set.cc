// NativeStreamSet: a slot table of libhs streams over one stream-mode database.
// Streams are addressed by small integers rather than JS objects so a million
// flows cost only their libhs state, and scanBatch() crosses into native code
// once for many packets.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"

namespace l7hs {
namespace {

/**
 * Lowercases the ASCII letters of [p, end) in place, eight bytes at a time:
 * the addon builds at -O2, where GCC does not vectorise a byte loop of
 * unknown length, and the byte loop was about 4% of the stateless edge's
 * instructions per packet. Per byte b: its low seven bits plus (0x80 - 'A') carry into
 * bit 7 when they are 'A' or above, plus (0x80 - 'Z' - 1) when above 'Z';
 * bit 7 of the two sums differs just for 'A'..'Z', and b's own bit 7 rules
 * out bytes from 0x80. That bit, moved to bit 5, is the case bit.
 */
void FoldAsciiCase(uint8_t* p, uint8_t* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kLow7 = 0x7f * kOnes;
  constexpr uint64_t kHigh = 0x80 * kOnes;
  for (; end - p >= 8; p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t low = w & kLow7;
    const uint64_t upper = ((low + (0x80 - 'A') * kOnes) ^ (low + (0x80 - 'Z' - 1) * kOnes)) & ~w & kHigh;
    w |= upper >> 2;
    std::memcpy(p, &w, 8);
  }
  for (; p < end; p++) *p |= static_cast<uint8_t>((static_cast<uint8_t>(*p - 'A') < 26) << 5);
}

// scanBatch context: the smallest id reported for the current chunk (-1 none).
int OnMinId(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  auto* best = static_cast<int32_t*>(ctx);
  const int32_t v = static_cast<int32_t>(id);  // ids are <= INT32_MAX (checked at compile)
  if (*best < 0 || v < *best) *best = v;
  return 0;
}

class NativeStreamSet : public Napi::ObjectWrap<NativeStreamSet> {
 public:
  // new NativeStreamSet(nativeDatabase, eodCheck, foldAsciiCase)
  explicit NativeStreamSet(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<NativeStreamSet>(info) {
    Napi::Env env = info.Env();
    fold_ = info[2].ToBoolean();
    pool_.reserve(kPoolMax);
    core_ = CoreOf(env, info[0]);  // shares ownership: db outlives our streams
    if (!core_->stream) Fail(env, "HS_INVALID_ARGUMENT", "StreamSet needs a stream-mode database");
    if (info[1].ToBoolean()) {
      // The spare receives copies of real streams for the "as if data ended here" check.
      hs_error_t err = hs_open_stream(core_->db, 0, &spare_);
      if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "hs_open_stream", err);
    }
  }

  // Runs from the GC finalizer too: streams first, then (members) the Core.
  ~NativeStreamSet() override {
    CloseAllStreams();
    if (spare_ != nullptr) hs_close_stream(spare_, nullptr, nullptr, nullptr);
  }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeStreamSet",
                       {
                           InstanceMethod<&NativeStreamSet::Open>("open"),
                           InstanceMethod<&NativeStreamSet::Scan>("scan"),
                           InstanceMethod<&NativeStreamSet::Close>("close"),
                           InstanceMethod<&NativeStreamSet::Reset>("reset"),
                           InstanceMethod<&NativeStreamSet::Restart>("restart"),
                           InstanceMethod<&NativeStreamSet::ScanBatch>("scanBatch"),
                           InstanceMethod<&NativeStreamSet::CloseAll>("closeAll"),
                           InstanceMethod<&NativeStreamSet::OpenCount>("openCount"),
                       });
  }

 private:
  std::shared_ptr<Core> core_;
  std::vector<hs_stream_t*> slots_;  // nullptr = free slot
  std::vector<uint32_t> free_;       // free slot numbers, reused LIFO
  uint32_t open_ = 0;
  hs_stream_t* spare_ = nullptr;  // only with eodCheck
  static constexpr size_t kPoolMax = 1024;
  std::vector<hs_stream_t*> pool_;  // closed streams kept (reset) for reuse, at most kPoolMax
  bool fold_ = false;             // scanBatch lowercases ASCII letters in place first
  IdCollector collector_;         // reused so scan() does not reallocate

  void CloseAllStreams() {
    // NULL scratch/callback: just free, matches at EOD are not wanted here.
    for (hs_stream_t* s : slots_) {
      if (s != nullptr) hs_close_stream(s, nullptr, nullptr, nullptr);
    }
    for (hs_stream_t* s : pool_) hs_close_stream(s, nullptr, nullptr, nullptr);
    pool_.clear();
    slots_.clear();
    slots_.shrink_to_fit();
    free_.clear();
    free_.shrink_to_fit();
    open_ = 0;
  }

  // Validates a slot argument. Not a uint32 -> HS_INVALID_ARGUMENT; a uint32
  // naming no open stream (closed, never opened, or cleared by closeAll) ->
  // HS_STREAM_CLOSED, the same rule scanBatch applies to its Uint32Array.
  uint32_t Slot(Napi::Env env, Napi::Value v) {
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= UINT32_MAX && std::floor(d) == d)) {
      Fail(env, "HS_INVALID_ARGUMENT", "slot must be an integer in [0, 2^32)");
    }
    const uint32_t slot = static_cast<uint32_t>(d);
    if (slot >= slots_.size() || slots_[slot] == nullptr) {
      Fail(env, "HS_STREAM_CLOSED", "stream slot " + std::to_string(slot) + " is not open");
    }
    return slot;
  }

  // Returns the ids collected for the last libhs call, or throws for its error.
  Napi::Value Collected(Napi::Env env, hs_error_t err, const char* what) {
    if (collector_.oom) Fail(env, "HS_NOMEM", "out of memory collecting matches");
    if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", what, err);
    return ToArray(env, collector_.ids);
  }

  void StartCollecting() {
    collector_.ids.clear();
    collector_.oom = false;
  }

  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    hs_stream_t* s = nullptr;
    if (!pool_.empty()) {
      s = pool_.back();  // already reset by Close()
      pool_.pop_back();
    } else {
      hs_error_t err = hs_open_stream(core_->db, 0, &s);
      if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "hs_open_stream", err);
    }
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
      slots_[slot] = s;
    } else {
      if (slots_.size() >= INT32_MAX) {
        hs_close_stream(s, nullptr, nullptr, nullptr);
        Fail(env, "HS_NOMEM", "too many open streams");
      }
      slot = static_cast<uint32_t>(slots_.size());
      try {
        slots_.push_back(s);
        // Reserve the free list too, so Close() never has to allocate (or fail).
        free_.reserve(slots_.capacity());
      } catch (...) {
        if (slots_.size() > slot) slots_.pop_back();
        hs_close_stream(s, nullptr, nullptr, nullptr);
        Fail(env, "HS_NOMEM", "out of memory growing the stream table");
      }
    }
    open_++;
    return Napi::Number::New(env, slot);
  }

  Napi::Value Scan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t slot = Slot(env, info[0]);
    Bytes chunk = ReadBytes(env, info[1], "chunk");
    StartCollecting();
    hs_error_t err = hs_scan_stream(slots_[slot], chunk.data, static_cast<unsigned int>(chunk.length),
                                    0, core_->scratch, &IdCollector::OnMatch, &collector_);
    return Collected(env, err, "hs_scan_stream");
  }

  // Frees the slot first, whatever libhs says: the stream is gone either way.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t slot = Slot(env, info[0]);
    hs_stream_t* s = slots_[slot];
    slots_[slot] = nullptr;
    free_.push_back(slot);  // capacity reserved in Open()
    open_--;
    StartCollecting();
    if (pool_.size() < kPoolMax) {
      // Keep the stream for the next Open(): a reset reports the same end-of-data
      // matches as a close, and saves libhs a free and an allocation per flow.
      hs_error_t err = hs_reset_stream(s, 0, core_->scratch, &IdCollector::OnMatch, &collector_);
      if (err == HS_SUCCESS) {
        pool_.push_back(s);  // capacity reserved in the constructor
      } else {
        hs_close_stream(s, nullptr, nullptr, nullptr);
      }
      return Collected(env, err, "hs_reset_stream");
    }
    hs_error_t err = hs_close_stream(s, core_->scratch, &IdCollector::OnMatch, &collector_);
    return Collected(env, err, "hs_close_stream");
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t slot = Slot(env, info[0]);
    StartCollecting();
    hs_error_t err = hs_reset_stream(slots_[slot], 0, core_->scratch, &IdCollector::OnMatch, &collector_);
    return Collected(env, err, "hs_reset_stream");
  }

  // Without scratch and callback libhs skips the end-of-data pass: the stream
  // just starts over, which is all a stream reused for a new flow needs.
  // restart(slots: Uint32Array): one call for a batch's reused streams, as
  // scanBatch is one for its chunks. Every slot is checked before any
  // stream is touched.
  Napi::Value Restart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    U32s slots = ReadU32s(env, info[0], "slots");
    slots.length = Count(env, info[1], slots.length, "slots");
    for (size_t i = 0; i < slots.length; i++) {
      const uint32_t slot = slots.data[i];
      if (slot >= slots_.size() || slots_[slot] == nullptr) {
        Fail(env, "HS_STREAM_CLOSED", "slots[" + std::to_string(i) + "]: stream slot " + std::to_string(slot) + " is not open");
      }
    }
    for (size_t i = 0; i < slots.length; i++) {
      hs_error_t err = hs_reset_stream(slots_[slots.data[i]], 0, nullptr, nullptr, nullptr);
      if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "hs_reset_stream", err);
    }
    return env.Undefined();
  }

  // How many leading elements of arrays of at least `length` elements to use:
  // all of them when `v` is undefined, else `v`, an integer up to `length`
  // (so that a caller's kept arrays need no view per call).
  static size_t Count(Napi::Env env, Napi::Value v, size_t length, const char* arrays) {
    if (v.IsUndefined()) return length;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= static_cast<double>(length) && std::floor(d) == d)) {
      Fail(env, "HS_INVALID_ARGUMENT", "count must be an integer from 0 to the length of " + std::string(arrays) + " (" + std::to_string(length) + ")");
    }
    return static_cast<size_t>(d);
  }

  // scanBatch(slots: Uint32Array, data: Uint8Array, starts: Uint32Array, ends: Uint32Array,
  //           count?: number, out?: Int32Array): Int32Array
  // count: pairs [0, count) of the arrays (default: all, and then the three
  // lengths must be equal). out: written and returned instead of a new array.
  Napi::Value ScanBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    U32s slots = ReadU32s(env, info[0], "slots");
    Bytes data = ReadBytes(env, info[1], "data");
    U32s starts = ReadU32s(env, info[2], "starts");
    U32s ends = ReadU32s(env, info[3], "ends");
    size_t n = slots.length;
    if (info[4].IsUndefined()) {
      if (starts.length != n || ends.length != n) {
        Fail(env, "HS_INVALID_ARGUMENT", "slots, starts and ends must have the same length");
      }
    } else {
      n = Count(env, info[4], std::min({slots.length, starts.length, ends.length}), "slots, starts and ends");
    }
    Napi::Int32Array out;
    if (!info[5].IsUndefined()) {
      if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        Fail(env, "HS_INVALID_ARGUMENT", "out must be an Int32Array");
      }
      out = info[5].As<Napi::Int32Array>();
      if (out.ElementLength() < n) {
        Fail(env, "HS_INVALID_ARGUMENT", "out has " + std::to_string(out.ElementLength()) + " elements, fewer than the " + std::to_string(n) + " pairs");
      }
    }
    // Validate everything before scanning anything, so a bad pair never leaves
    // the batch half-applied to the streams.
    for (size_t i = 0; i < n; i++) {
      const uint32_t slot = slots.data[i];
      if (slot >= slots_.size() || slots_[slot] == nullptr) {
        Fail(env, "HS_STREAM_CLOSED",
             "pair " + std::to_string(i) + ": stream slot " + std::to_string(slot) + " is not open");
      }
      if (starts.data[i] > ends.data[i] || ends.data[i] > data.length) {
        Fail(env, "HS_INVALID_ARGUMENT",
             "pair " + std::to_string(i) + ": range [" + std::to_string(starts.data[i]) + ", " +
                 std::to_string(ends.data[i]) + ") is outside data of length " + std::to_string(data.length));
      }
    }
    if (out.IsEmpty()) out = Napi::Int32Array::New(env, n);
    int32_t* best = out.Data();
    hs_scratch_t* scratch = core_->scratch;
    if (fold_) {
      for (size_t i = 0; i < n; i++) {
        // data is the caller's own buffer (a TypedArray we were handed), writable.
        auto* bytes = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data));
        FoldAsciiCase(bytes + starts.data[i], bytes + ends.data[i]);
      }
    }
    for (size_t i = 0; i < n; i++) {
      hs_stream_t* s = slots_[slots.data[i]];
      best[i] = -1;
      hs_error_t err = hs_scan_stream(s, data.data + starts.data[i], ends.data[i] - starts.data[i], 0,
                                      scratch, &OnMinId, &best[i]);
      if (err == HS_SUCCESS && spare_ != nullptr) {
        // "As if the data ended here": EOD matches (e.g. `\z`) of a copy count
        // for this chunk; the real stream carries on untouched.
        err = hs_reset_and_copy_stream(spare_, s, scratch, nullptr, nullptr);
        if (err == HS_SUCCESS) err = hs_reset_stream(spare_, 0, scratch, &OnMinId, &best[i]);
      }
      if (err != HS_SUCCESS) FailHs(env, "HS_SCAN", "pair " + std::to_string(i) + ": stream scan", err);
    }
    return out;
  }

  Napi::Value CloseAll(const Napi::CallbackInfo& info) {
    CloseAllStreams();
    return info.Env().Undefined();
  }

  Napi::Value OpenCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), open_);
  }
};

}  // namespace

void InitStreamSet(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeStreamSet", NativeStreamSet::Define(env));
}

}  // namespace l7hs
