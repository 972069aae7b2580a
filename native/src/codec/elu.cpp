// ELU for the EnCodec decoder (see elu.h): ggml_elu, or on the CPU a custom op through the kernel sets' ELU.
#include "codec/elu.h"

#include <algorithm>

#include "runtime/cpu-matvec.h"

namespace mg {

void encodec_elu_values(const float* src, float* dst, int64_t n) { cpu_elu(src, dst, n); }

static void elu_rows(ggml_tensor* dst, const ggml_tensor* a, int ith, int nth, void*) {
    const int64_t n = ggml_nelements(dst);
    const int64_t per_thread = (n + nth - 1) / nth;
    const int64_t begin = std::min(n, per_thread * ith);
    const int64_t end = std::min(n, begin + per_thread);
    encodec_elu_values(static_cast<const float*>(a->data) + begin, static_cast<float*>(dst->data) + begin, end - begin);
}

ggml_tensor* encodec_elu(ggml_context* ctx, ggml_tensor* x, bool cpu) {
    if (!cpu) return ggml_elu(ctx, x);
    return ggml_map_custom1(ctx, ggml_is_contiguous(x) ? x : ggml_cont(ctx, x), elu_rows, GGML_N_TASKS_MAX, nullptr);
}

}  // namespace mg
