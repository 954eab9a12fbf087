{
  "targets": [
    {
      "target_name": "l7nfq",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/queue.cc",
        "native/rx.cc",
        "native/conntrack.cc",
        "native/ctrecord.cc",
        "native/ctquery.cc",
        "native/ctevents.cc",
        "native/nft.cc",
        "native/setdump.cc",
        "native/commitwatch.cc",
        "native/setelem.cc",
        "native/setwrite.cc",
        "native/setread.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      # node's common.gypi turns exceptions off; we use them for error propagation.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["<!@(pkg-config --cflags libnetfilter_queue libnetfilter_conntrack libmnl libnftables libnftnl)"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["<!@(pkg-config --libs libnetfilter_queue libnetfilter_conntrack libmnl libnftables libnftnl)"]
    }
  ]
}
