{
  "targets": [
    {
      "target_name": "l7hs",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/database.cc",
        "native/stream_set.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      # node's common.gypi turns exceptions off; we use them for error propagation.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["<!@(pkg-config --cflags libhs)"],
      # After common.gypi's Release -O3 on the command line, so -O2 wins.
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "libraries": ["<!@(pkg-config --libs libhs)"]
    }
  ]
}
