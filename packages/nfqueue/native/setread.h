// nftGetElements (setread.cc): 5-tuple set elements read by key, one
// NFT_MSG_GETSETELEM request each, with libmnl/libnftnl instead of nft.
#pragma once

#include <napi.h>

namespace l7nfq {

void InitSetRead(Napi::Env env, Napi::Object exports);

}  // namespace l7nfq
