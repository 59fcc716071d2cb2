{
  "targets": [
    {
      "target_name": "peregrine_json",
      "sources": [
        "src/native/peregrine_json.cc",
        "node_modules/@nozbe/simdjson/src/simdjson.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "node_modules/@nozbe/simdjson/src"
      ],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8", "SIMDJSON_EXCEPTIONS=0"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"] }
    }
  ]
}
