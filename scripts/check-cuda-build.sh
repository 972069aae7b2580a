#!/usr/bin/env bash
# Compile + link check of the CUDA build on a machine whose CUDA 13 toolkit lacks cuBLAS (docs/building.md).
# Borrows cuBLAS 11.8 (headers, libcublas/libcublasLt, the libcuda.so link stub) from Debian bookworm non-free,
# through a private apt configuration (the system's apt sources are not changed, nothing is installed), merges it
# with the CUDA 13 toolkit in a scratch toolkit root, and runs scripts/build-native.js --cuda against it.
# The result links libcublas.so.11 next to libcudart.so.13: proof that everything compiles and links, not a
# binary that can run. On a machine with the real toolkit, just run `node scripts/build-native.js --cuda`.
#   scripts/check-cuda-build.sh [--portable]     (extra arguments go to build-native.js)
# Env: CUDA_HOME (default /usr/local/cuda), WORK (default /tmp/musicgen-cuda-check), MUSICGEN_CUDA_ARCHS (default
# 90), CMAKE_BUILD_PARALLEL_LEVEL (default 1: a full build is ~140 nvcc jobs; see docs/building.md for times).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cuda="${CUDA_HOME:-/usr/local/cuda}"
work="${WORK:-/tmp/musicgen-cuda-check}"
deb="$work/deb" stage="$work/cublas-root" merged="$work/cuda-merged"
mkdir -p "$deb" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"

if [ ! -e "$stage/usr/include/cublas_v2.h" ]; then
  echo "deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware" >"$work/apt/sources.list"
  apt_opts=(-oDir::Etc::SourceList="$work/apt/sources.list" -oDir::Etc::SourceParts=/dev/null
    -oDir::State::Lists="$work/apt/lists" -oDir::Cache="$work/apt/cache")
  apt-get "${apt_opts[@]}" update -qq
  # nvidia-cuda-dev (774 MB) only for the cuBLAS headers and the libcuda.so stub; its other 2.8 GB stay packed.
  (cd "$deb" && apt-get "${apt_opts[@]}" download libcublas11 libcublaslt11 nvidia-cuda-dev)
  dpkg -x "$deb"/libcublas11_*.deb "$stage"
  dpkg -x "$deb"/libcublaslt11_*.deb "$stage"
  dpkg-deb --fsys-tarfile "$deb"/nvidia-cuda-dev_*.deb | tar -x -C "$stage" \
    ./usr/include/cublas.h ./usr/include/cublas_api.h ./usr/include/cublas_v2.h ./usr/include/cublasLt.h \
    ./usr/include/cublasXt.h ./usr/lib/x86_64-linux-gnu/libcublas.so ./usr/lib/x86_64-linux-gnu/libcublasLt.so \
    ./usr/lib/x86_64-linux-gnu/stubs/libcuda.so
fi

# A toolkit root laid out like NVIDIA's (bin, include, lib64, lib64/stubs), all symlinks.
rm -rf "$merged" && mkdir -p "$merged/include" "$merged/lib/stubs" "$merged/targets/x86_64-linux"
ln -s "$(readlink -f "$cuda")/bin" "$merged/bin"
ln -s "$(readlink -f "$cuda")/nvvm" "$merged/nvvm"
ln -s "$(readlink -f "$cuda")"/include/* "$stage"/usr/include/cublas*.h "$merged/include/"
ln -s "$(readlink -f "$cuda")"/lib64/* "$stage"/usr/lib/x86_64-linux-gnu/libcublas* "$merged/lib/"
ln -s "$stage/usr/lib/x86_64-linux-gnu/stubs/libcuda.so" "$merged/lib/stubs/"
ln -s lib "$merged/lib64"
ln -s ../../include "$merged/targets/x86_64-linux/include"
ln -s ../../lib "$merged/targets/x86_64-linux/lib"

dest="$work/out"
export CUDAToolkit_ROOT="$merged" CUDACXX="$merged/bin/nvcc"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}"
"$CUDACXX" --version | tail -2
time node "$root/scripts/build-native.js" --cuda --dest "$dest" "$@"

for f in "$dest"/musicgen.node "$dest"/libggml-cuda.so; do
  [ -e "$f" ] || continue
  echo "== $f ($(du -h "$f" | cut -f1))"
  readelf -d "$f" | grep -E 'NEEDED|RUNPATH|RPATH'
done
