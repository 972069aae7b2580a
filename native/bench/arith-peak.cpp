// The CPU's arithmetic peak for the best instruction set of the matrix-vector kernels (lm-floor.h measure_peak_macs):
// independent chains of the kernels' own multiply-add instructions, compiled for that set by function attribute and
// run only where the CPU has it (the kernel set in use was chosen by checking the CPU).
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "lm-floor.h"
#include "runtime/cpu-matvec.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MG_PEAK_X86 1
#endif

namespace mg {

namespace {

constexpr int64_t iterations = 4'000'000;

#ifdef MG_PEAK_X86
// 16 independent chains: on the development VM (AMD EPYC, AVX-512) 8 chains of f32 FMAs gave 28.7 G/s per core,
// 12 gave 32.4, 16 gave 33.3, 24 gave 31.9 (latency-bound below 16).
__attribute__((target("avx512f,avx512vnni"))) double peak_avx512(bool int8) {
    if (int8) {
        __m512i acc[16];
        for (__m512i& a : acc) a = _mm512_setzero_si512();
        const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
        for (int64_t i = 0; i < iterations; ++i) {
            for (__m512i& a : acc) a = _mm512_dpbusd_epi32(a, u, s);
            __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
        }
        int sink = 0;
        for (const __m512i& a : acc) sink += _mm512_cvtsi512_si32(a);
        __asm__ volatile("" ::"r"(sink));
        return 64.0 * 16 * iterations;
    }
    __m512 acc[16];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    const __m512 x = _mm512_set1_ps(1e-7f), y = _mm512_set1_ps(0.999f);
    for (int64_t i = 0; i < iterations; ++i) {
        for (__m512& a : acc) a = _mm512_fmadd_ps(a, y, x);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
    }
    float sink = 0;
    for (const __m512& a : acc) sink += _mm512_cvtss_f32(a);
    __asm__ volatile("" ::"x"(sink));
    return 16.0 * 16 * iterations;
}

// 12 chains with AVX2: its 16 registers also hold the constants.
__attribute__((target("avx2,fma"))) double peak_avx2(bool int8) {
    if (int8) {
        // As the AVX2 q8_0 / q4_K kernels: u8 x s8 pairs to int16 (vpmaddubsw), pairs to int32 (vpmaddwd), summed.
        __m256i acc[12];
        for (__m256i& a : acc) a = _mm256_setzero_si256();
        const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
        for (int64_t i = 0; i < iterations; ++i) {
            for (__m256i& a : acc) a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
            __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
        }
        int sink = 0;
        for (const __m256i& a : acc) sink += _mm256_extract_epi32(a, 0);
        __asm__ volatile("" ::"r"(sink));
        return 32.0 * 12 * iterations;
    }
    __m256 acc[12];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    const __m256 x = _mm256_set1_ps(1e-7f), y = _mm256_set1_ps(0.999f);
    for (int64_t i = 0; i < iterations; ++i) {
        for (__m256& a : acc) a = _mm256_fmadd_ps(a, y, x);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
    }
    float sink = 0;
    for (const __m256& a : acc) sink += _mm256_cvtss_f32(a);
    __asm__ volatile("" ::"x"(sink));
    return 8.0 * 12 * iterations;
}
#endif

}  // namespace

double measure_peak_macs(bool int8, int n_threads, int reps) {
#ifdef MG_PEAK_X86
    // The best set this CPU runs, whichever kernels are in use: the floor is the machine's.
    const matvec_kernels kernels = cpu_runs(matvec_kernels::avx512) ? matvec_kernels::avx512
                                   : cpu_runs(matvec_kernels::avx2) ? matvec_kernels::avx2
                                                                    : matvec_kernels::ggml;
    if (kernels == matvec_kernels::ggml) return 0;
    double best = 0;
    for (int r = 0; r < std::max(1, reps); ++r) {
        std::vector<double> macs(static_cast<size_t>(std::max(1, n_threads)));
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (size_t t = 0; t < macs.size(); ++t) {
            threads.emplace_back(
                [&, t] { macs[t] = kernels == matvec_kernels::avx512 ? peak_avx512(int8) : peak_avx2(int8); });
        }
        for (std::thread& t : threads) t.join();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double total = 0;
        for (double m : macs) total += m;
        best = std::max(best, total / s);
    }
    return best;
#else
    (void)int8;
    (void)n_threads;
    (void)reps;
    return 0;
#endif
}

}  // namespace mg
