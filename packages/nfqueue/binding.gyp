{
  "targets": [
    {
      "target_name": "l7nfq",
      "sources": [],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
