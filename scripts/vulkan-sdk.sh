#!/usr/bin/env bash
# The Vulkan headers ggml 0.15.1's Vulkan backend needs (vulkan.hpp with vk::LayerSettingEXT, Vulkan >= 1.3.268, and
# SPIRV-Headers' CMake package), unpacked under .vulkan-sdk from Debian trixie's packages for machines whose own
# are older (Debian bookworm ships 1.3.239). Nothing is installed: the .debs are fetched with `apt-get download`
# through a private apt configuration and unpacked with `dpkg -x`, so no root is needed. scripts/build-native.js
# uses .vulkan-sdk when it exists (docs/building.md). glslc and the Vulkan loader come from the system
# (Debian: apt-get install glslc libvulkan1; mesa-vulkan-drivers adds lavapipe, the CPU Vulkan device tests use).
# Idempotent: does nothing when .vulkan-sdk already holds these versions.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/.vulkan-sdk"
packages=(libvulkan-dev spirv-headers)
stamp="$sdk/.packages"
want="trixie: ${packages[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "vulkan-sdk: $sdk is ready ($want)"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Architecture=amd64
  -o APT::Architectures=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
mkdir -p "$work/cache/archives/partial"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}")
rm -rf "$sdk"
mkdir -p "$sdk"
for deb in "$work/debs"/*.deb; do
  dpkg -x "$deb" "$sdk"
  echo "vulkan-sdk: unpacked $(basename "$deb")"
done
echo "$want" >"$stamp"
