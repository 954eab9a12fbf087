// CommitWatch: which nftables commits touched one set, told by the kernel's
// own change notifications (the NFNLGRP_NFTABLES multicast group, what
// `nft monitor` reads). The set-element dump (setdump.cc) uses it to decide
// whether a commit that happened while it read the set could have shifted
// the set's elements, or was about something else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct mnl_socket;

namespace l7nfq {

class CommitWatch {
 public:
  // Does nothing until Open(); not copyable (owns a socket).
  CommitWatch(std::string table, std::string set, uint8_t family);
  ~CommitWatch();
  CommitWatch(const CommitWatch&) = delete;
  CommitWatch& operator=(const CommitWatch&) = delete;

  // Subscribes; call it on the thread whose network namespace is meant. On
  // failure (no permission to join the group) the watch stays closed and
  // Touched() answers "maybe" for any commit: the caller treats every commit
  // as one that touched the set.
  bool Open();
  bool IsOpen() const { return nl_ != nullptr; }

  // Reads the notifications queued so far, without waiting.
  void Poll();

  // True if a commit with generation in (from, to] — generations modulo
  // 2^16, as in nfgenmsg.res_id — changed the set, or may have (the watch is
  // closed, it lost notifications, or the generation `to` was not announced
  // within `waitMs`).
  bool Touched(uint16_t from, uint16_t to, int waitMs);

  // Forgets what was read (lost notifications included), before a new dump.
  void Reset();

 private:
  void Read(bool wait, int waitMs);
  void OnMessage(const void* nlh);
  bool Announced(uint16_t from, uint16_t to) const;

  const std::string table_;
  const std::string set_;
  const uint8_t family_;
  struct mnl_socket* nl_ = nullptr;
  std::vector<char> buf_;
  bool lost_ = false;                 // ENOBUFS: notifications were dropped
  bool anyGen_ = false;
  uint16_t lastGen_ = 0;              // the last generation announced (NFT_MSG_NEWGEN)
  std::vector<uint16_t> touchedGens_;  // generations whose commit changed the set
};

}  // namespace l7nfq
