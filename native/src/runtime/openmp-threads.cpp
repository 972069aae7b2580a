// Handing a job thread's OpenMP team back to libgomp when the job ends (see openmp-threads.h).
#include "runtime/openmp-threads.h"

#if defined(__linux__)
#include <dlfcn.h>
#endif

namespace mg {

namespace {

[[maybe_unused]] constexpr int omp_pause_soft = 1;  // omp_pause_resource_t: the runtime stays usable
using pause_all_fn = int (*)(int kind);

}  // namespace

// libgomp is linked into the addon (source builds) or loaded privately by ggml's CPU module (portable builds,
// RTLD_LOCAL): RTLD_NOLOAD finds it either way by soname, and loads nothing where OpenMP is not in use. Looked up
// per call (microseconds, once per job). Linux only: macOS and Windows builds use ggml's own thread pool.
void release_openmp_threads() {
#if defined(__linux__)
    void* gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!gomp) return;
    if (auto pause_all = reinterpret_cast<pause_all_fn>(dlsym(gomp, "omp_pause_resource_all")))
        pause_all(omp_pause_soft);
    dlclose(gomp);  // balances this dlopen; libgomp stays loaded by whoever loaded it
#endif
}

}  // namespace mg
