#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a lent GPU machine and that does not travel with the working tree (it
# is built or installed here, hence ignored): Node.js itself (the GPU image has Python, not Node), the runtime part
# of node_modules, dist/, the portable prebuild with the CUDA module beside it, the smoke-test model, and the
# Vulkan loader with the GL dispatch libraries the NVIDIA Vulkan driver loads through, as Debian packages (the
# device tool's README: the GPU image may have none; gpu-check.sh unpacks them there only where missing). One .tar.xz, split into parts that each fit one device call beside the
# working tree (a call carries at most 64 MiB in all, and the tree itself is ~37 MB of test fixtures), under .gpu/
# (ignored). docs/gpu-check.md says how the parts travel, one call each; the last call runs the check.
#   scripts/gpu-pack.sh                 (after npm run build:prebuilds and the CUDA module build, docs/building.md)
# Env: MUSICGEN_GPU_CUDA_MODULE (default: build/cuda-module-90real/libggml-cuda.so, else build/cuda-module/...),
#      MUSICGEN_GPU_PART_MB (default: what fits beside the tree, computed here).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=.gpu
prebuilt=prebuilds/linux-x64
cuda="${MUSICGEN_GPU_CUDA_MODULE:-}"
if [ -z "$cuda" ]; then
  for candidate in build/cuda-module-90real/libggml-cuda.so build/cuda-module/libggml-cuda.so; do
    [ -f "$candidate" ] && { cuda="$candidate"; break; }
  done
fi
fail() { echo "gpu-pack: $*" >&2; exit 1; }
[ -f "$prebuilt/musicgen-native.glibc.node" ] || fail "$prebuilt is missing: run npm run build:prebuilds"
[ -f "$prebuilt/libggml-vulkan.so" ] || fail "$prebuilt has no Vulkan module: build the prebuild with Vulkan (docs/building.md)"
[ -n "$cuda" ] && [ -f "$cuda" ] || fail "no CUDA module: build one (docs/building.md, the CUDA module built here) or set MUSICGEN_GPU_CUDA_MODULE"
[ -f dist/bench/bench.js ] && [ -f dist/test/lm.test.js ] || fail "dist/ is missing: run npm run build:ts"
[ -f models/musicgen-smoke-test.gguf ] || fail "models/musicgen-smoke-test.gguf is missing: run npm run build:default-model"
node_bin="$(command -v node)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/.gpu/node/bin" "$stage/.gpu/gl" "$stage/$prebuilt"
cp "$(readlink -f "$node_bin")" "$stage/.gpu/node/bin/node"
cp -a "$prebuilt/." "$stage/$prebuilt/"
cp "$cuda" "$stage/$prebuilt/libggml-cuda.so"
# Debug symbols do not travel (2.3 MB of the compressed pack): N-API and ggml's entry points are dynamic symbols.
strip "$stage/.gpu/node/bin/node"
strip --strip-unneeded "$stage/$prebuilt/libggml-cuda.so"
(cd "$stage/.gpu/gl" && apt-get download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
# node_modules without what only builds, formats or drives a browser (~270 MB of the ~300).
tar -cf "$stage/rest.tar" --exclude=node_modules/nodejs-whisper --exclude=node_modules/@typescript \
  --exclude=node_modules/prettier --exclude=node_modules/playwright-core --exclude=node_modules/cmake-js \
  --exclude=node_modules/prebuildify --exclude=node_modules/.cache node_modules dist models/musicgen-smoke-test.gguf
(cd "$stage" && tar -rf rest.tar .gpu "$prebuilt")
echo "gpu-pack: compressing ($(du -h "$stage/rest.tar" | cut -f1) of files) ..."
xz -9 -T0 -c "$stage/rest.tar" >"$stage/payload.tar.xz"

# Each part fits one call beside the working tree: tracked files and untracked ones git does not ignore.
tree_bytes="$( (git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true) |
  awk '{s += $1} END {print s + 0}')"
limit=$((64 * 1024 * 1024))
part_mb="${MUSICGEN_GPU_PART_MB:-$(((limit - tree_bytes - 2 * 1024 * 1024) / 1024 / 1024))}"
[ "$part_mb" -ge 4 ] || fail "the working tree ($tree_bytes bytes) leaves no room for a part"
rm -rf "$out"
mkdir -p "$out"
split -b "${part_mb}M" -d -a 2 "$stage/payload.tar.xz" "$out/part-"
parts=("$out"/part-*)
{
  echo "sha256 $(sha256sum "$stage/payload.tar.xz" | cut -d' ' -f1)"
  echo "parts ${#parts[@]}"
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "cuda $cuda"
} >"$out/manifest"
echo "gpu-pack: $(du -h "$stage/payload.tar.xz" | cut -f1) in ${#parts[@]} part(s) of <= ${part_mb} MiB (tree: $((tree_bytes / 1024 / 1024)) MiB)"
for p in "${parts[@]}"; do
  echo "  device run: command 'bash scripts/gpu-check.sh', carry [\"$out/manifest\", \"$p\"]"
done
