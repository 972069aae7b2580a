#!/usr/bin/env bash
# The whole tap suite against the ASan + UBSan (+ LSan) build of the addon (docs/sanitizers.md).
#
#   npm run test:sanitize                      # build build/sanitize/musicgen.node, then every dist/test/*.test.js
#   scripts/test-sanitize.sh dist/test/t5.test.js dist/test/stream.test.js     # only these files
#
#   MUSICGEN_SANITIZE_SKIP_BUILD=1   use build/sanitize/musicgen.node as it is
#   MUSICGEN_SANITIZE_DIST=dir       the compiled tests' folder when no files are named (default dist)
#
# Every node process of the run (tap, each test file, every CLI a test spawns) gets the ASan runtime preloaded,
# because the addon is instrumented and Node is not: the runtime must come first in the library list or it refuses
# to start. Leaks are checked when each process exits (LSan); scripts/lsan.supp lists the ones that are not ours.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "${MUSICGEN_SANITIZE_SKIP_BUILD:-0}" != 1 ]; then
  node scripts/build-native.js --sanitize --dest build/sanitize
fi
addon=$root/build/sanitize/musicgen.node
[ -f "$addon" ] || { echo "test-sanitize: $addon is missing (run without MUSICGEN_SANITIZE_SKIP_BUILD)" >&2; exit 1; }

# The ASan runtime the addon was linked against (GCC: libasan.so.N), found through the addon itself.
asan=$(ldd "$addon" | awk '/libasan\.so/ { print $3; exit }')
if [ -z "$asan" ]; then asan=$(gcc -print-file-name=libasan.so); fi
[ -f "$asan" ] || { echo "test-sanitize: no ASan runtime found for $addon" >&2; exit 1; }

if [ "$#" -eq 0 ]; then
  dist=${MUSICGEN_SANITIZE_DIST:-dist}
  set -- "$dist"/test/*.test.js
fi

# Exported for tap and everything it starts (the sanitizer options only matter where the runtime is preloaded).
export MUSICGEN_NATIVE_ADDON=$addon
# The sanitizer build leaves the Vulkan backend out (scripts/build-native.js: a driver's own allocations are not ours
# to check and would need LSan suppressions we cannot verify): parity tests run on the CPU only here, and say so.
export MUSICGEN_TEST_BACKENDS=cpu
# abort_on_error: a finding kills the process with SIGABRT (tap reports the file as failed); detect_leaks: LSan at
# every exit; allocator_may_return_null: an allocation too large for the machine fails the way it does without ASan
# (std::bad_alloc / NULL, which our code turns into a typed error) instead of ASan aborting first.
# intercept_tls_get_addr=0: GCC 12's runtime (like GCC <= 13 and LLVM <= 16) guesses from a dynamic TLS block's
# address alone (offset 16 in its page) that it starts with a glibc < 2.25 header and reads the two words before it;
# when a block lands there by chance, LeakSanitizer's tracer segfaults at exit ("Tracer caught signal 11 ... LeakSanitizer
# has encountered a fatal error": google/sanitizers#1322). It depends on the process's memory layout, so the same
# process crashes again when rerun (CI, 2026-12-05: test/cli.test.ts's streaming CLI, twice). Off, LSan still scans
# dynamic TLS blocks as the heap chunks glibc allocates them in, reached from each thread's DTV.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:strict_init_order=1:check_initialization_order=1:detect_stack_use_after_return=0:intercept_tls_get_addr=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
# Child processes that carry their own sanitizer runtime (clang's, statically linked: the libFuzzer harnesses in
# build/fuzz) cannot take GCC's preloaded one; scripts/sanitize-preload.js drops LD_PRELOAD for those only.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require $root/scripts/sanitize-preload.js"

echo "test-sanitize: $addon with $asan preloaded; $# test file(s)"
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_tap() {
  # Longer per-file timeout than `npm test` (600 s): everything runs several times slower under ASan.
  LD_PRELOAD=$asan npx tap --reporter=tap --timeout 2400 "$@" 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}
status=0
run_tap "$@" || status=$?

echo "test-sanitize: exit $status after $(($(date +%s) - start)) s"
exit "$status"
