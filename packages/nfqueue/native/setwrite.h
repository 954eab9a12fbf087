// nftApplyElements (setwrite.cc): adds and deletes of 5-tuple set elements
// in one nfnetlink batch, written with libmnl/libnftnl instead of nft.
#pragma once

#include <napi.h>

namespace l7nfq {

void InitSetWrite(Napi::Env env, Napi::Object exports);

}  // namespace l7nfq
