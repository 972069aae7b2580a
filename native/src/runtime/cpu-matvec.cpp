// Matrix-vector products on the CPU (see cpu-matvec.h): which kernels run, the activations quantised as ggml would,
// the portable kernels, and the custom op that splits the rows between the backend's threads.
#include "runtime/cpu-matvec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <vector>

#include "runtime/cpu-matvec-kernels.h"
#include "runtime/error.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define MG_MATVEC_X86 1
#endif

namespace mg {

namespace {

using namespace matvec;

constexpr int32_t max_columns = 8;
constexpr int64_t q8_block = 32;

float f16_value(const uint8_t* p) {
    ggml_fp16_t h;
    std::memcpy(&h, p, sizeof h);
    return ggml_fp16_to_fp32(h);
}

void scalar_f32(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        const float* row = reinterpret_cast<const float*>(w.data + r * w.row_bytes);
        for (int32_t c = 0; c < x.n; ++c) {
            const float* col = col_floats(x, c);
            float sum = 0.0f;
            for (int64_t k = 0; k < w.n_in; ++k) sum += row[k] * col[k];
            out.y[c * out.y_col + r] = sum;
        }
    }
}

void scalar_f16(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int32_t c = 0; c < x.n; ++c) {
            const float* col = col_floats(x, c);
            float sum = 0.0f;
            for (int64_t k = 0; k < w.n_in; ++k) sum += f16_value(row + 2 * k) * col[k];
            out.y[c * out.y_col + r] = sum;
        }
    }
}

void scalar_q8_0(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / q8_block;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int32_t c = 0; c < x.n; ++c) {
            const int8_t* q = col_values(x, c);
            const float* scale = col_scales(x, c);
            float sum = 0.0f;
            for (int64_t b = 0; b < n_blocks; ++b) {
                const uint8_t* block = row + b * (2 + q8_block);
                const int8_t* wq = reinterpret_cast<const int8_t*>(block + 2);
                int32_t dot = 0;
                for (int64_t i = 0; i < q8_block; ++i) dot += int32_t{wq[i]} * q[b * q8_block + i];
                sum += static_cast<float>(dot) * (f16_value(block) * scale[b]);
            }
            out.y[c * out.y_col + r] = sum;
        }
    }
}

void scalar_q4_k(const weights& w, const columns& x, const output& out, int64_t r0, int64_t r1) {
    const int64_t n_blocks = w.n_in / 256;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int32_t c = 0; c < x.n; ++c) {
            const int8_t* q8 = col_values(x, c);
            const float* dx = col_scales(x, c);
            const int16_t* sums = col_sums(x, c);
            float sum = 0.0f;
            for (int64_t b = 0; b < n_blocks; ++b) {
                const uint8_t* block = row + b * q4_k_block_bytes;
                uint32_t packed[4];
                q4_k_scales(block + q4_k_scales_at, packed);
                const uint8_t* scales = reinterpret_cast<const uint8_t*>(packed);
                const uint8_t* mins = scales + 8;
                int32_t dot = 0, dot_mins = 0;
                for (int g = 0; g < 4; ++g) {
                    const uint8_t* q4 = block + q4_k_values_at + 32 * g;
                    const int8_t* lo = q8 + b * 256 + 32 * k8_slot[2 * g];
                    const int8_t* hi = q8 + b * 256 + 32 * k8_slot[2 * g + 1];
                    int32_t dot_lo = 0, dot_hi = 0;
                    for (int i = 0; i < 32; ++i) {
                        dot_lo += (q4[i] & 0xF) * lo[i];
                        dot_hi += (q4[i] >> 4) * hi[i];
                    }
                    dot += scales[2 * g] * dot_lo + scales[2 * g + 1] * dot_hi;
                }
                for (int j = 0; j < 8; ++j) dot_mins += mins[j] * sums[b * 8 + j];
                sum += f16_value(block) * dx[b] * static_cast<float>(dot) -
                       f16_value(block + 2) * dx[b] * static_cast<float>(dot_mins);
            }
            out.y[c * out.y_col + r] = sum;
        }
    }
}

void scalar_q8_0_column(const float* x, int64_t n_in, int8_t* q, float* scales, int32_t* corr, float* lanes) {
    for (int64_t b = 0; b < n_in / q8_block; ++b) {
        const float* v = x + b * q8_block;
        float amax = 0.0f;
        for (int64_t i = 0; i < q8_block; ++i) amax = std::max(amax, std::fabs(v[i]));
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        scales[b] = ggml_fp16_to_fp32(ggml_fp32_to_fp16(amax / 127.0f));
        for (int64_t i = 0; i < q8_block; ++i) q[b * q8_block + i] = static_cast<int8_t>(std::nearbyint(v[i] * id));
    }
    for (int64_t g = 0; g < n_in / 4; ++g) {
        corr[g] = -128 * (q[4 * g] + q[4 * g + 1] + q[4 * g + 2] + q[4 * g + 3]);
        lanes[g] = scales[g / 8];
    }
}

void scalar_q8_k_column(const float* x, int64_t n_in, int8_t* q, float* scales, int16_t* sums) {
    for (int64_t b = 0; b < n_in / 256; ++b) {
        const float* v = x + b * 256;
        float max = 0.0f, amax = 0.0f;
        for (int i = 0; i < 256; ++i) {
            if (std::fabs(v[i]) > amax) {
                amax = std::fabs(v[i]);
                max = v[i];
            }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        scales[b] = amax != 0.0f ? 1.0f / iscale : 0.0f;
        for (int j = 0; j < 8; ++j) {
            int8_t* dst_j = q + b * 256 + 32 * k8_slot[j];
            int32_t sum = 0;
            for (int i = 0; i < 32; ++i) {
                // ggml's nearest_int: round to nearest even through the float's mantissa.
                const int32_t value = std::min(127, static_cast<int32_t>(std::nearbyint(iscale * v[32 * j + i])));
                dst_j[i] = static_cast<int8_t>(value);
                sum += value;
            }
            sums[b * 8 + j] = static_cast<int16_t>(sum);
        }
    }
}

#if defined(__SSE2__) || defined(_M_X64)
// The scalar set's ELU four lanes at a time with SSE2, which every x86-64 CPU has (elu_scalar's operations).
inline __m128 elu_sse2(__m128 v) {
    const __m128 x = _mm_max_ps(_mm_min_ps(v, _mm_setzero_ps()), _mm_set1_ps(elu_min_x));
    const __m128 magic = _mm_set1_ps(elu_round_magic);
    const __m128 n = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(elu_log2e)), magic), magic);
    const __m128 r =
        _mm_sub_ps(_mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(elu_ln2_hi))), _mm_mul_ps(n, _mm_set1_ps(elu_ln2_lo)));
    __m128 p = _mm_set1_ps(elu_taylor[0]);
    for (int i = 1; i < 6; ++i) p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(elu_taylor[i]));
    p = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(p, r), r), r);
    const __m128 scale = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(n), _mm_set1_epi32(127)), 23));
    const __m128 neg = _mm_add_ps(_mm_mul_ps(scale, p), _mm_sub_ps(scale, _mm_set1_ps(1.0f)));
    const __m128 positive = _mm_cmpgt_ps(v, _mm_setzero_ps());
    return _mm_or_ps(_mm_and_ps(positive, v), _mm_andnot_ps(positive, neg));
}
#endif

void scalar_elu(const float* src, float* dst, int64_t n) {
    int64_t i = 0;
#if defined(__SSE2__) || defined(_M_X64)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, elu_sse2(_mm_loadu_ps(src + i)));
#endif
    for (; i < n; ++i) dst[i] = elu_scalar(src[i]);
}

// ggml_gelu_erf's formula (ggml_vec_gelu_erf_f32), element for element.
void scalar_gelu_erf(float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * y[i] * (1.0f + std::erf(y[i] * gelu_sqrt_2_inv));
}

template <bool half_rows>
void scalar_weighted_sum(const weights& w, const float* p, int64_t r0, int64_t r1, float* y) {
    for (int64_t i = 0; i < w.n_in; ++i) y[i] = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = w.data + r * w.row_bytes;
        for (int64_t i = 0; i < w.n_in; ++i) {
            y[i] += p[r] * (half_rows ? f16_value(row + 2 * i) : reinterpret_cast<const float*>(row)[i]);
        }
    }
}

float scalar_softmax(float* x, const float* mask, float scale, int64_t n) {
    float max = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
        x[j] = x[j] * scale + mask[j];
        max = std::max(max, x[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        x[j] = std::exp(x[j] - max);
        sum += x[j];
    }
    return sum;
}

kernel_set scalar_kernels() {
    return {scalar_f32,
            scalar_f16,
            scalar_q8_0,
            scalar_q4_k,
            scalar_weighted_sum<false>,
            scalar_weighted_sum<true>,
            scalar_q8_0_column,
            scalar_q8_k_column,
            scalar_gelu_erf,
            scalar_elu,
            nullptr,
            scalar_softmax};
}

bool cpu_has(const char* feature) {
#ifdef MG_MATVEC_X86
    __builtin_cpu_init();
    if (std::strcmp(feature, "avx2") == 0) {
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    if (std::strcmp(feature, "avx512") == 0) {
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("fma");
    }
#endif
    (void)feature;
    return false;
}

std::string runnable_kernels() {
    std::string list;
    for (const matvec_kernels k : {matvec_kernels::avx512, matvec_kernels::avx2, matvec_kernels::scalar}) {
        if (cpu_runs(k)) list += matvec_kernels_name(k) + ", ";
    }
    return list + "ggml";
}

matvec_kernels detect_kernels() {
    const char* env = std::getenv("MUSICGEN_CPU_KERNELS");
    const std::string asked = env ? env : "";
    if (asked.empty() || asked == "auto") {
        if (cpu_runs(matvec_kernels::avx512)) return matvec_kernels::avx512;
        if (cpu_runs(matvec_kernels::avx2)) return matvec_kernels::avx2;
        return matvec_kernels::scalar;
    }
    matvec_kernels kernels;
    try {
        kernels = parse_matvec_kernels(asked);
    } catch (const error& e) {
        throw error(error_code::invalid_argument, std::string("MUSICGEN_CPU_KERNELS: ") + e.what());
    }
    if (!cpu_runs(kernels)) {
        throw error(error_code::invalid_argument,
                    "MUSICGEN_CPU_KERNELS=" + asked + ": this CPU lacks it (it runs " + runnable_kernels() + ")");
    }
    return kernels;
}

// `n` columns of `col_bytes` (a multiple of 64) in `buffer`, the first at a 64-byte boundary.
uint8_t* column_buffer(std::vector<uint8_t>& buffer, size_t col_bytes, int32_t n) {
    buffer.resize(col_bytes * n + 64);
    return buffer.data() + (64 - reinterpret_cast<uintptr_t>(buffer.data()) % 64) % 64;
}

// Quantises `n` columns of x (n_in floats each, `stride` floats apart) into `buffer` as ggml quantises an
// activation for q8_0 weights (its AVX2 quantize_row_q8_0: round to nearest even), plus the corrections.
columns quantize_q8_0(const kernel_set& kernels, const float* x, int64_t n_in, size_t stride, int32_t n,
                      std::vector<uint8_t>& buffer) {
    const int64_t n_blocks = n_in / q8_block;
    const size_t col_bytes = (static_cast<size_t>(n_in) * 3 + static_cast<size_t>(n_blocks) * 4 + 63) / 64 * 64;
    uint8_t* base = column_buffer(buffer, col_bytes, n);
    columns cols{};
    cols.n = n;
    cols.data = base;
    cols.col_bytes = col_bytes;
    cols.scales_at = static_cast<size_t>(n_in);
    cols.corr_at = static_cast<size_t>(n_in + n_blocks * 4);
    cols.lanes_at = static_cast<size_t>(2 * n_in + n_blocks * 4);
    for (int32_t c = 0; c < n; ++c) {
        uint8_t* dst = base + c * col_bytes;
        kernels.q8_0_column(
            x + c * stride, n_in, reinterpret_cast<int8_t*>(dst), reinterpret_cast<float*>(dst + cols.scales_at),
            reinterpret_cast<int32_t*>(dst + cols.corr_at), reinterpret_cast<float*>(dst + cols.lanes_at));
    }
    return cols;
}

// Quantises columns as ggml quantises an activation for q4_K weights (quantize_row_q8_K_ref), sub-blocks stored in
// k8_slot order, with each sub-block's sum.
columns quantize_q8_k(const kernel_set& kernels, const float* x, int64_t n_in, size_t stride, int32_t n,
                      std::vector<uint8_t>& buffer) {
    const int64_t n_blocks = n_in / 256;
    const size_t col_bytes = (static_cast<size_t>(n_in) + static_cast<size_t>(n_blocks) * (4 + 16) + 63) / 64 * 64;
    uint8_t* base = column_buffer(buffer, col_bytes, n);
    columns cols{};
    cols.n = n;
    cols.data = base;
    cols.col_bytes = col_bytes;
    cols.scales_at = static_cast<size_t>(n_in);
    cols.sums_at = static_cast<size_t>(n_in + n_blocks * 4);
    for (int32_t c = 0; c < n; ++c) {
        uint8_t* dst = base + c * col_bytes;
        kernels.q8_k_column(x + c * stride, n_in, reinterpret_cast<int8_t*>(dst),
                            reinterpret_cast<float*>(dst + cols.scales_at),
                            reinterpret_cast<int16_t*>(dst + cols.sums_at));
    }
    return cols;
}

// What one product op does around its products (the custom op's userdata): the kernels, how many weight matrices
// share the columns, and the layer norm before and the GELU or residual add after. Interned (intern_config), so a
// graph's ops point at configurations that live as long as the process.
struct op_config {
    const kernel_set* kernels = nullptr;
    int n_weights = 1;
    bool norm = false;
    float eps = 0.0f;
    bool gelu = false;
    bool residual = false;

    bool operator==(const op_config& o) const {
        return kernels == o.kernels && n_weights == o.n_weights && norm == o.norm && eps == o.eps && gelu == o.gelu &&
               residual == o.residual;
    }
};

const op_config* intern_config(const op_config& config) {
    static std::mutex mutex;
    static std::list<op_config> configs;
    const std::lock_guard<std::mutex> lock(mutex);
    for (const op_config& c : configs) {
        if (c == config) return &c;
    }
    configs.push_back(config);
    return &configs.back();
}

// ggml_norm's layer norm of each column (mean, then the variance of the centred values, both summed in double),
// then times w plus b, as ggml's norm, mul and add nodes compute it.
void layer_norm_columns(const float* x, int64_t n_in, int32_t n_cols, const float* w, const float* b, float eps,
                        float* y) {
    for (int32_t c = 0; c < n_cols; ++c) {
        const float* xc = x + int64_t{c} * n_in;
        float* yc = y + int64_t{c} * n_in;
        double sum = 0.0;
        for (int64_t i = 0; i < n_in; ++i) sum += xc[i];
        const float mean = static_cast<float>(sum) / static_cast<float>(n_in);
        double squares = 0.0;
        for (int64_t i = 0; i < n_in; ++i) {
            const float centred = xc[i] - mean;
            yc[i] = centred;
            squares += static_cast<double>(centred * centred);
        }
        const float variance = static_cast<float>(squares / static_cast<double>(n_in));
        const float scale = 1.0f / std::sqrt(variance + eps);
        for (int64_t i = 0; i < n_in; ++i) {
            const float normed = yc[i] * scale;
            const float weighted = normed * w[i];
            yc[i] = weighted + b[i];
        }
    }
}

// How the threads of one product op share its rows. Each thread owns an equal share of every matrix's rows, cut
// into parts_per_share parts, and works through its own parts in order (one continuous stream of weights); a thread
// done with its share takes the parts left at the far end of another's. On this 2-vCPU VM one thread of an op often
// finished 5-9 us of its ~50 us before the other (the virtual CPUs run at uneven speeds); letting it help evens that
// out without cutting the weight streams short (parts handed out one by one from a shared counter cost more than they
// saved: every part starts a new stream from memory).
//
// Each share's state is one int32 in the op's node: parts taken from the front (by the owner) in the low 16 bits,
// from the back (by others) in the high 16. The states sit in the node's op_params past the custom op's own
// parameters (a function and a data pointer and an int: at most 24 of the 64 bytes), so each node, and each graph
// running at the same time, has its own; the last thread to finish sets them back to zero for the next run.
constexpr int parts_per_share = 16;
constexpr int share_state_at = 8;  // int32 index in op_params: states [8, 8 + nth), the finished count at 15
constexpr int finished_at = 15;
constexpr int max_sharing_threads = finished_at - share_state_at;
static_assert(3 * sizeof(void*) <= share_state_at * sizeof(int32_t) && finished_at < GGML_MAX_OP_PARAMS / 4,
              "the share states must lie past the custom op's parameters, inside op_params");

// Runs `part(share, k)` for every part k of every share, thread `ith` of `nth` starting with its own share.
template <typename Part>
void share_parts(ggml_tensor* dst, int ith, int nth, int64_t parts, const Part& part) {
    if (nth > max_sharing_threads) {  // more threads than states: each thread does its own share
        for (int64_t k = 0; k < parts; ++k) part(ith, k);
        return;
    }
    int32_t* state = &dst->op_params[share_state_at];
    for (int o = 0; o < nth; ++o) {
        const int share = (ith + o) % nth;
        const bool own = o == 0;
        for (;;) {
            int32_t s = __atomic_load_n(&state[share], __ATOMIC_RELAXED);
            const int64_t front = s & 0xFFFF, back = s >> 16;
            if (front + back >= parts) break;
            if (__atomic_compare_exchange_n(&state[share], &s, s + (own ? 1 : 0x10000), false, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                part(share, own ? front : parts - 1 - back);
            }
        }
    }
    int32_t* finished = &dst->op_params[finished_at];
    if (__atomic_add_fetch(finished, 1, __ATOMIC_ACQ_REL) == nth) {
        for (int share = 0; share < nth; ++share) __atomic_store_n(&state[share], 0, __ATOMIC_RELAXED);
        __atomic_store_n(finished, 0, __ATOMIC_RELEASE);
    }
}

// The custom op: every thread prepares the columns itself (layer norm, quantisation), so no thread waits for
// another, then computes parts of the rows (share_parts), each part finished at once (GELU, residual).
//   sources: the n_weights matrices [n_in, n_out], x [n_in, n_cols], then norm w and b [n_in] when `norm`, then the
//   residual [n_out, R >= n_cols] when `residual`;
//   dst: [n_out, n_cols] per matrix, one after another, or [n_out, R] with the residual (its columns past n_cols are
//   the residual's).
void matvec_op(ggml_tensor* dst, int ith, int nth, void* userdata) {
    const op_config& config = *static_cast<const op_config*>(userdata);
    const ggml_tensor* w0 = dst->src[0];
    const ggml_tensor* x = dst->src[config.n_weights];
    const int64_t n_in = w0->ne[0], n_out = w0->ne[1];
    const int32_t n_cols = static_cast<int32_t>(ggml_nelements(x) / n_in);

    const kernel_set& kernels = *config.kernels;
    const float* xf = static_cast<const float*>(x->data);
    thread_local std::vector<float> normed;
    if (config.norm) {
        normed.resize(static_cast<size_t>(n_in) * n_cols);
        layer_norm_columns(xf, n_in, n_cols, static_cast<const float*>(dst->src[config.n_weights + 1]->data),
                           static_cast<const float*>(dst->src[config.n_weights + 2]->data), config.eps, normed.data());
        xf = normed.data();
    }
    thread_local std::vector<uint8_t> scratch;
    columns cols{};
    if (w0->type == GGML_TYPE_Q8_0) {
        cols = quantize_q8_0(kernels, xf, n_in, static_cast<size_t>(n_in), n_cols, scratch);
    } else if (w0->type == GGML_TYPE_Q4_K) {
        cols = quantize_q8_k(kernels, xf, n_in, static_cast<size_t>(n_in), n_cols, scratch);
    } else {
        cols.n = n_cols;
        cols.data = reinterpret_cast<const uint8_t*>(xf);
        cols.col_bytes = static_cast<size_t>(n_in) * sizeof(float);
    }
    const auto run = w0->type == GGML_TYPE_F32    ? kernels.f32
                     : w0->type == GGML_TYPE_F16  ? kernels.f16
                     : w0->type == GGML_TYPE_Q8_0 ? kernels.q8_0
                                                  : kernels.q4_k;
    const ggml_tensor* res = config.residual ? dst->src[config.n_weights + (config.norm ? 3 : 1)] : nullptr;

    // Rows [r0, r1) of matrix i: the products, then the GELU or the residual added.
    const auto rows = [&](int i, int64_t r0, int64_t r1) {
        if (r0 >= r1) return;
        const ggml_tensor* w = dst->src[i];
        const weights wt{static_cast<const uint8_t*>(w->data), w->nb[1], n_in};
        float* y = static_cast<float*>(dst->data) + int64_t{i} * n_out * n_cols;
        // Columns in passes of at most max_pass_columns, each pass over the same rows (still in cache).
        for (int32_t c0 = 0; c0 < n_cols; c0 += max_pass_columns) {
            columns pass = cols;
            pass.n = std::min(max_pass_columns, n_cols - c0);
            pass.data = cols.data + c0 * cols.col_bytes;
            run(wt, pass, output{y + c0 * n_out, static_cast<size_t>(n_out)}, r0, r1);
        }
        if (config.gelu) {
            for (int64_t c = 0; c < n_cols; ++c) kernels.gelu_erf(y + c * n_out + r0, r1 - r0);
        }
        if (res) {
            // The residual stream plus the product (ggml_add(residual, product)); columns without a product (the
            // unconditional rows of cross-attention) keep the residual.
            const float* rf = static_cast<const float*>(res->data);
            const int64_t res_cols = ggml_nelements(res) / n_out;
            for (int64_t c = 0; c < res_cols; ++c) {
                for (int64_t r = r0; r < r1; ++r) {
                    y[c * n_out + r] = c < n_cols ? rf[c * n_out + r] + y[c * n_out + r] : rf[c * n_out + r];
                }
            }
        }
    };
    // Share `share` of every matrix: its rows in whole groups of 4, cut into parts_per_share parts.
    const int64_t groups = (n_out + 3) / 4;
    share_parts(dst, ith, nth, int64_t{config.n_weights} * parts_per_share, [&](int share, int64_t k) {
        const int64_t g0 = groups * share / nth, g1 = groups * (share + 1) / nth, p = k % parts_per_share;
        rows(static_cast<int>(k / parts_per_share), std::min(n_out, (g0 + (g1 - g0) * p / parts_per_share) * 4),
             std::min(n_out, (g0 + (g1 - g0) * (p + 1) / parts_per_share) * 4));
    });
}

}  // namespace

namespace matvec {

// The kernel sets by kind, built once; ggml's kind has none (project() never builds the op for it).
const kernel_set* kernel_set_of(matvec_kernels kernels) {
    static const kernel_set scalar = scalar_kernels();
#ifdef MG_MATVEC_X86
    static const kernel_set avx2 = avx2_kernels();
    static const kernel_set avx512 = avx512_kernels();
    if (kernels == matvec_kernels::avx2) return &avx2;
    if (kernels == matvec_kernels::avx512) return &avx512;
#endif
    if (kernels == matvec_kernels::scalar) return &scalar;
    return nullptr;
}

}  // namespace matvec

matvec_kernels parse_matvec_kernels(const std::string& name) {
    for (const matvec_kernels k :
         {matvec_kernels::ggml, matvec_kernels::scalar, matvec_kernels::avx2, matvec_kernels::avx512}) {
        if (name == matvec_kernels_name(k)) return k;
    }
    throw error(error_code::invalid_argument,
                "CPU kernels must be auto, ggml, scalar, avx2 or avx512; got '" + name + "'");
}

matvec_kernels cpu_matvec_kernels() {
    static const matvec_kernels kernels = detect_kernels();
    return kernels;
}

std::string matvec_kernels_name(matvec_kernels kernels) {
    switch (kernels) {
        case matvec_kernels::ggml:
            return "ggml";
        case matvec_kernels::scalar:
            return "scalar";
        case matvec_kernels::avx2:
            return "avx2";
        case matvec_kernels::avx512:
            return "avx512";
    }
    return "unknown";
}

bool cpu_matvec_takes(const ggml_tensor* w, const ggml_tensor* x) {
    const bool type_ok = w->type == GGML_TYPE_F32 || w->type == GGML_TYPE_F16 ||
                         (w->type == GGML_TYPE_Q8_0 && w->ne[0] % q8_block == 0) ||
                         (w->type == GGML_TYPE_Q4_K && w->ne[0] % 256 == 0);
    return type_ok && ggml_is_contiguous(w) && w->ne[2] == 1 && w->ne[3] == 1 && x->type == GGML_TYPE_F32 &&
           ggml_is_contiguous(x) && x->ne[0] == w->ne[0] && ggml_nelements(x) / x->ne[0] <= max_columns;
}

bool cpu_runs(matvec_kernels kernels) {
    switch (kernels) {
        case matvec_kernels::ggml:
        case matvec_kernels::scalar:
            return true;
        case matvec_kernels::avx2:
            return cpu_has("avx2");
        case matvec_kernels::avx512:
            return cpu_has("avx512");
    }
    return false;
}

ggml_tensor* cpu_matvec(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, matvec_kernels kernels) {
    const matvec::kernel_set* set = matvec::kernel_set_of(kernels);
    if (!set || !cpu_runs(kernels) || !cpu_matvec_takes(w, x)) {
        throw error(error_code::backend, "cpu_matvec: a product or kernel set it does not take");
    }
    op_config config;
    config.kernels = set;
    ggml_tensor* args[] = {w, x};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, w->ne[1], x->ne[1], x->ne[2], x->ne[3], args, 2, matvec_op,
                          GGML_N_TASKS_MAX, const_cast<op_config*>(intern_config(config)));
}

bool cpu_matvec_fuses(bool cpu, const std::vector<ggml_tensor*>& ws, const ggml_tensor* x) {
    if (!cpu || cpu_matvec_kernels() == matvec_kernels::ggml || ws.empty() || ws.size() > 3) return false;
    for (const ggml_tensor* w : ws) {
        if (!cpu_matvec_takes(w, x) || w->type != ws[0]->type || w->ne[1] != ws[0]->ne[1]) return false;
    }
    return true;
}

ggml_tensor* cpu_matvec_fused(ggml_context* ctx, const std::vector<ggml_tensor*>& ws, ggml_tensor* x,
                              const matvec_fusion& fusion) {
    const matvec::kernel_set* set = matvec::kernel_set_of(cpu_matvec_kernels());
    const int64_t n_in = x->ne[0], n_cols = ggml_nelements(x) / n_in;
    const bool norm = fusion.norm_w != nullptr;
    const auto is_vector = [&](const ggml_tensor* t) {
        return t && t->type == GGML_TYPE_F32 && ggml_is_contiguous(t) && ggml_nelements(t) == n_in;
    };
    const ggml_tensor* res = fusion.residual;
    const bool res_ok = !res || (ws.size() == 1 && res->type == GGML_TYPE_F32 && ggml_is_contiguous(res) &&
                                 res->ne[0] == ws[0]->ne[1] && ggml_nelements(res) / res->ne[0] >= n_cols);
    if (!set || !cpu_matvec_fuses(true, ws, x) || (norm && !(is_vector(fusion.norm_w) && is_vector(fusion.norm_b))) ||
        !res_ok) {
        throw error(error_code::backend, "cpu_matvec_fused: products or a fusion it does not take");
    }
    op_config config;
    config.kernels = set;
    config.n_weights = static_cast<int>(ws.size());
    config.norm = norm;
    config.eps = fusion.eps;
    config.gelu = fusion.gelu;
    config.residual = res != nullptr;
    std::vector<ggml_tensor*> args(ws.begin(), ws.end());
    args.push_back(x);
    if (norm) {
        args.push_back(fusion.norm_w);
        args.push_back(fusion.norm_b);
    }
    if (res) args.push_back(fusion.residual);
    void* userdata = const_cast<op_config*>(intern_config(config));
    if (res) {
        return ggml_custom_4d(ctx, GGML_TYPE_F32, res->ne[0], res->ne[1], res->ne[2], res->ne[3], args.data(),
                              static_cast<int>(args.size()), matvec_op, GGML_N_TASKS_MAX, userdata);
    }
    return ggml_custom_4d(ctx, GGML_TYPE_F32, ws[0]->ne[1], n_cols, static_cast<int64_t>(ws.size()), 1, args.data(),
                          static_cast<int>(args.size()), matvec_op, GGML_N_TASKS_MAX, userdata);
}

void cpu_elu(const float* src, float* dst, int64_t n) {
    static const matvec::kernel_set* set = matvec::kernel_set_of(
        cpu_matvec_kernels() == matvec_kernels::ggml ? matvec_kernels::scalar : cpu_matvec_kernels());
    set->elu(src, dst, n);
}

conv_frames_kernel cpu_conv_frames() {
    static const conv_frames_kernel kernel = cpu_matvec_kernels() == matvec_kernels::ggml
                                                 ? nullptr
                                                 : matvec::kernel_set_of(cpu_matvec_kernels())->conv_frames;
    return kernel;
}

ggml_tensor* project(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, bool cpu) {
    if (cpu && cpu_matvec_kernels() != matvec_kernels::ggml && ggml_is_contiguous(x) && cpu_matvec_takes(w, x)) {
        return cpu_matvec(ctx, w, x, cpu_matvec_kernels());
    }
    return ggml_mul_mat(ctx, w, x);
}

}  // namespace mg
