#!/usr/bin/env bash
# The check for a lent GPU machine (docs/gpu-check.md), run there from the repository root by the device tool:
#   bash scripts/gpu-check.sh [--budget SECONDS] [--presets small,medium,large] [--types f16,q8_0,q4_k]
#                             [--frames N] [--backends cuda,vulkan] [--no-tests] [--no-bench] [--no-reference]
# 1. Stages the parts scripts/gpu-pack.sh made (.gpu/part-NN, one carried per call, kept there between calls while
#    the machine is warm); until all are there it says which are missing and stops.
# 2. Unpacks them once (Node.js, node_modules, dist/, the prebuild with libggml-cuda.so, the Vulkan loader), finds
#    the CUDA 13 runtime and cuBLAS (the toolkit's or Python's nvidia wheels) and the NVIDIA Vulkan driver.
# 3. Runs the parity tests on CUDA and on Vulkan (the NVIDIA GPU), then bench/bench.ts on CUDA and Vulkan for each
#    preset and type, and the transformers reference (bench/hf-reference.py) on the same GPU and shapes, and prints
#    one table (tools/gpu-report.ts). Logs and result JSON go to $OUT (the device tool's folder that comes back).
# Everything after staging runs against a time budget (default 420 s), most important first: tests, CUDA bench,
# reference, Vulkan bench; what the budget leaves out is named, not silently dropped.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
budget=420 presets=small,medium,large types=f16,q8_0,q4_k frames=150 backends=cuda,vulkan
tests=1 bench=1 reference=1
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget="$2"; shift ;;
    --presets) presets="$2"; shift ;;
    --types) types="$2"; shift ;;
    --frames) frames="$2"; shift ;;
    --backends) backends="$2"; shift ;;
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --no-reference) reference=0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out="$root/.gpu/out"
mkdir -p "$out"
start=$SECONDS
left() { echo $((budget - (SECONDS - start))); }
say() { echo "gpu-check [$((SECONDS - start)) s]: $*"; }

# 1. Staging.
manifest=.gpu/manifest
[ -f "$manifest" ] || { echo "gpu-check: $manifest is missing: carry it with each part (scripts/gpu-pack.sh)"; exit 2; }
want="$(awk '$1 == "parts" {print $2}' "$manifest")"
sha="$(awk '$1 == "sha256" {print $2}' "$manifest")"
shopt -s nullglob
parts=(.gpu/part-*)
if [ "${#parts[@]}" -lt "$want" ]; then
  missing=()
  for ((i = 0; i < want; i++)); do
    name="$(printf '.gpu/part-%02d' "$i")"
    [ -f "$name" ] || missing+=("$name")
  done
  say "staged ${#parts[@]} of $want parts; carry next: ${missing[*]} (with $manifest)"
  exit 0
fi

# 2. Unpacking and the environment. A run starts from an empty .gpu/out: nothing of an earlier run is reported.
rm -rf "$out"
mkdir -p "$out"
if [ "$(cat .gpu/unpacked 2>/dev/null)" != "$sha" ]; then
  got="$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)"
  [ "$got" = "$sha" ] || { echo "gpu-check: the parts do not match $manifest (sha256 $got): re-pack and re-send"; exit 2; }
  cat "${parts[@]}" | xz -d | tar -x -C "$root" || { echo "gpu-check: unpacking failed"; exit 2; }
  echo "$sha" >.gpu/unpacked
  say "unpacked $(awk '$1 == "commit" {print $2, $3, $4, $5, $6}' "$manifest")"
fi
export PATH="$root/.gpu/node/bin:$PATH"
# The Vulkan loader and GL dispatch libraries, unpacked into / as the device tool's README does it, where missing.
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for deb in .gpu/gl/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
  /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; break; fi
done
for egl in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json; do
  [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
done
# libcudart.so.13 and libcublas.so.13: the toolkit's, or those of Python's nvidia-* wheels (torch's).
cuda_libs="$(python3 - <<'PY' 2>>"$out/env.log"
import glob, os, site, sys
names = ("libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13")
roots = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]
roots += [os.path.join(p, "nvidia") for p in site.getsitepackages()]
found = {}
for root in roots:
    for name in names:
        for path in glob.glob(os.path.join(root, "**", name), recursive=True):
            found.setdefault(name, os.path.dirname(path))
for name in names:
    if name not in found:
        print("missing " + name, file=sys.stderr)
print(":".join(sorted(set(found.values()))))
PY
)"
# The driver's own libraries (libcuda.so.1, libGLX_nvidia.so.0 for the Vulkan ICD) where the image keeps them.
driver_libs=""
[ -d /usr/local/nvidia/lib64 ] && driver_libs=/usr/local/nvidia/lib64
export LD_LIBRARY_PATH="${cuda_libs}${driver_libs:+:$driver_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  echo "node $(node --version)"
  nvidia-smi -L 2>&1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
} | tee -a "$out/env.log"
node -e "const r = require('./dist/lib/runtime').runtimeInfo();
console.log(JSON.stringify({ backends: r.backends, devices: r.devices, unavailable: r.unavailable }, null, 1));" \
  2>&1 | tee "$out/runtime.json"
list() { echo "$1" | tr ',' ' '; }
has() { case ",$backends," in *",$1,"*) return 0 ;; esac; return 1; }

# 3a. Parity tests, four files at a time (16 cores; the GPU is shared but the fixtures are tiny).
if [ "$tests" = 1 ]; then
  parity=(t5 lm melody generate encodec encodec-stream encodec-encoder audio-prompt bench-floor)
  export MUSICGEN_TEST_BACKENDS="cpu,$backends"
  # A test file run alone (not through the tap runner) stops itself after 30 s unless told otherwise.
  export TAP_TIMEOUT=$(($(left) / 2))
  printf '%s\n' "${parity[@]}" | xargs -P 4 -I{} sh -c \
    "timeout $(($(left) / 2)) node dist/test/{}.test.js >'$out/test-{}.log' 2>&1; echo \$? >'$out/test-{}.rc'"
  for f in "${parity[@]}"; do
    summary="$(grep '^# {' "$out/test-$f.log" | tail -1)"
    say "test $f: exit $(cat "$out/test-$f.rc") ${summary:-(no summary: crashed or timed out, see test-$f.log)}"
    grep -E '^\s+not ok|^not ok' "$out/test-$f.log" | head -5 | sed 's/^/    /'
  done
  # The measured differences on each GPU backend, to set its tolerances from (test/helpers/backends.ts).
  grep -hE '^# Subtest: \[(cuda|vulkan)\]|^\s+(ok|not ok) [0-9]+ - .*(diff|<=|differ)' "$out"/test-*.log \
    >"$out/gpu-differences.txt" || true
fi

# 3b. Random-weight models of the real shapes, made once and in parallel (bench/.cache, as bench.ts names them).
if [ "$bench" = 1 ] || [ "$reference" = 1 ]; then
  for p in $(list "$presets"); do
    [ -f "bench/.cache/$p/config.json" ] ||
      node dist/tools/make-random-checkpoint.js --preset "$p" -o "bench/.cache/$p" --dtype f16 --force \
        >"$out/make-$p.log" 2>&1 &
  done
  wait
  for p in $(list "$presets"); do for t in $(list "$types"); do
    [ -f "bench/.cache/$p-$t.gguf" ] || echo "$p $t"
  done; done | xargs -P 4 -L 1 sh -c \
    'node dist/convert/cli.js "bench/.cache/$0" -o "bench/.cache/$0-$1.gguf" --type "$1" >"'"$out"'/convert-$0-$1.log" 2>&1'
  say "models ready: $(ls bench/.cache/*.gguf 2>/dev/null | xargs -n1 basename | tr '\n' ' ')"
fi

run_bench() { # backend preset
  local remaining
  remaining="$(left)"
  if [ "$remaining" -lt 20 ]; then say "bench $1 $2: skipped, budget spent"; return; fi
  timeout "$remaining" node dist/bench/bench.js --backend "$1" --preset "$2" --types "$types" --threads 4 \
    --frames "$frames" >"$out/bench-$1-$2.log" 2>&1
  say "bench $1 $2: exit $?"
  local json
  json="$(ls -t bench/results/"$2"-"$1"-*.json 2>/dev/null | head -1)"
  [ -n "$json" ] && cp "$json" "$out/bench-$1-$2.json"
}
if [ "$bench" = 1 ] && has cuda; then for p in $(list "$presets"); do run_bench cuda "$p"; done; fi
if [ "$reference" = 1 ]; then
  for p in $(list "$presets"); do
    remaining="$(left)"
    if [ "$remaining" -lt 20 ]; then say "transformers $p: skipped, budget spent"; continue; fi
    timeout "$remaining" python3 bench/hf-reference.py "bench/.cache/$p" --frames "$frames" --label "$p" \
      >"$out/hf-$p.log" 2>&1
    say "transformers $p: exit $?"
    tail -1 "$out/hf-$p.log" | grep '^{' >>"$out/hf.jsonl"
  done
fi
if [ "$bench" = 1 ] && has vulkan; then for p in $(list "$presets"); do run_bench vulkan "$p"; done; fi

# 4. One table.
reports=("$out"/bench-*.json)
[ -f "$out/hf.jsonl" ] && reports+=("$out/hf.jsonl")
if [ "${#reports[@]}" -gt 0 ]; then node dist/tools/gpu-report.js "${reports[@]}" | tee "$out/table.md"; fi
if [ -n "${OUT:-}" ]; then
  for f in table.md runtime.json gpu-differences.txt env.log; do [ -f "$out/$f" ] && cp "$out/$f" "$OUT/"; done
  tar -cJf "$OUT/gpu-check-logs.tar.xz" -C "$out" .
fi
say "done; logs and JSON in $out${OUT:+ and $OUT/gpu-check-logs.tar.xz}"
