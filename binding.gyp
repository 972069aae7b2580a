# node-gyp-build's source fallback runs `node-gyp rebuild`; this delegates to the one CMake build
# (CMakeLists.txt) so there is no second list of sources.
{
  "targets": [
    {
      "target_name": "musicgen",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["<(PRODUCT_DIR)/musicgen.node"],
          "action": ["node", "scripts/build-native.js", "--dest", "<(PRODUCT_DIR)"]
        }
      ]
    }
  ]
}
