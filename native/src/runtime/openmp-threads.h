// ggml's CPU backend, built with OpenMP, runs every graph on a team of OpenMP threads that libgomp keeps per
// calling thread. Once libgomp manages more threads than the machine has CPUs (teams left behind by earlier jobs
// on other libuv worker threads count too), it "throttles": a thread waiting at a barrier spins only ~100 times,
// then sleeps on a futex, and an LM step had ~800 barriers (~260 now). On the 2-core development VM that made a
// musicgen-small step 69 ms instead of 47 ms (docs/performance.md). Each job therefore hands its team back when it
// ends, so only running jobs hold OpenMP threads.
#pragma once

namespace mg {

// Frees the calling thread's OpenMP team (omp_pause_resource_all). A no-op where ggml was built without OpenMP or
// libgomp is not loaded; safe to call from any thread outside a parallel region.
void release_openmp_threads();

// Calls release_openmp_threads() when the enclosing job ends, however it ends.
struct openmp_threads_release {
    openmp_threads_release() = default;
    openmp_threads_release(const openmp_threads_release&) = delete;
    openmp_threads_release& operator=(const openmp_threads_release&) = delete;
    ~openmp_threads_release() { release_openmp_threads(); }
};

}  // namespace mg
