// ELU (alpha 1) for the EnCodec decoder. ggml's CPU ELU calls libm's expm1f once per element, which measured a
// quarter of the whole decode on a 2-core x86 machine (~9.5 M elements per second of 32 kHz audio). On the CPU
// backend this builds a custom op instead: a branch-free expm1 (range reduction + degree-7 polynomial, within
// a few ulp of expm1f) from the CPU kernel sets (runtime/cpu-matvec.h: cpu_elu; 16 lanes with AVX-512, 8 with AVX2,
// 4 with SSE2, every element the same value in each). Other backends keep ggml_elu.
#pragma once
#include <ggml.h>

#include <cstdint>

namespace mg {

// ELU(x) = x for x > 0, expm1(x) otherwise. `cpu`: every backend the graph runs on is the CPU.
ggml_tensor* encodec_elu(ggml_context* ctx, ggml_tensor* x, bool cpu);

// The CPU op's ELU of n values (dst may be src), for the decoder's fused CPU ops (decoder-cpu-ops.h): the same
// value for every element as encodec_elu's.
void encodec_elu_values(const float* src, float* dst, int64_t n);

}  // namespace mg
