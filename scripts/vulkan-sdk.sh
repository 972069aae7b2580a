#!/usr/bin/env bash
# What building and testing the Vulkan backend needs beyond a Debian bookworm machine's own packages, unpacked under
# .vulkan-sdk; nothing is installed (the .debs are fetched with `apt-get download` through a private apt
# configuration and unpacked with `dpkg -x`, so no root is needed):
# - usr/: the Vulkan headers ggml 0.15.1's Vulkan backend needs (vulkan.hpp with vk::LayerSettingEXT, Vulkan >=
#   1.3.268, and SPIRV-Headers' CMake package), from Debian trixie (bookworm ships 1.3.239). scripts/build-native.js
#   uses them when they exist (docs/building.md).
# - lavapipe/: mesa's lavapipe (the CPU-run Vulkan device the tests use) from bookworm-backports, with lavapipe.json,
#   an ICD manifest naming it by absolute path. Bookworm's own mesa 22.3.6 lavapipe crashes now and then in its queue
#   thread on ggml's workloads (docs/building.md, known limits); test/helpers/vulkan-driver.ts points the Vulkan
#   loader at this one (VK_ICD_FILENAMES) when it is here. Backports is built against bookworm, so its dependencies
#   are those bookworm's mesa-vulkan-drivers already installed.
# glslc and the Vulkan loader come from the system (Debian: apt-get install glslc libvulkan1 mesa-vulkan-drivers).
# Idempotent: does nothing when .vulkan-sdk already holds these packages.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/.vulkan-sdk"
headers=(libvulkan-dev spirv-headers)
drivers=(mesa-vulkan-drivers)
stamp="$sdk/.packages"
want="trixie: ${headers[*]}; bookworm-backports: ${drivers[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "vulkan-sdk: $sdk is ready ($want)"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# download SUITE DEST PACKAGE...: the packages' .debs from one Debian suite into DEST.
download() {
  local suite="$1" dest="$2"
  shift 2
  local dir="$work/$suite"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dest"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Architecture=amd64
    -o APT::Architectures=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
  apt-get "${opts[@]}" -qq update
  (cd "$dest" && apt-get "${opts[@]}" -qq download "$@")
}

download trixie "$work/headers" "${headers[@]}"
download bookworm-backports "$work/drivers" "${drivers[@]}"
rm -rf "$sdk"
mkdir -p "$sdk/lavapipe"
for deb in "$work/headers"/*.deb; do
  dpkg -x "$deb" "$sdk"
  echo "vulkan-sdk: unpacked $(basename "$deb")"
done
for deb in "$work/drivers"/*.deb; do
  dpkg -x "$deb" "$sdk/lavapipe"
  echo "vulkan-sdk: unpacked $(basename "$deb") into lavapipe/"
done
lvp="$sdk/lavapipe/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
[ -f "$lvp" ] || { echo "vulkan-sdk: $lvp is missing from ${drivers[*]}" >&2; exit 1; }
api="$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$sdk/lavapipe/usr/share/vulkan/icd.d/lvp_icd.json")"
cat >"$sdk/lavapipe/lavapipe.json" <<JSON
{
  "file_format_version": "1.0.0",
  "ICD": { "library_path": "$lvp", "api_version": "${api:-1.3.0}" }
}
JSON
echo "$want" >"$stamp"
