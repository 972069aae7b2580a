// The CPU kernels against ggml_mul_mat and the exact product (see matvec-check.h).
#include "matvec-check.h"

#include <ggml-cpp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend.h"
#include "runtime/cpu-matvec-kernels.h"
#include "runtime/error.h"
#include "runtime/graph-runner.h"

namespace mg {

matvec_check check_cpu_matvec(ggml_type type, int64_t n_in, int64_t n_out, int32_t n_cols, matvec_kernels kernels,
                              uint32_t seed, int n_threads) {
    if (n_in < 1 || n_out < 1 || n_cols < 1 || n_in % ggml_blck_size(type) != 0) {
        throw error(error_code::invalid_argument, "check_cpu_matvec: n_in must be a positive multiple of the block");
    }
    if (kernels == matvec_kernels::ggml || !cpu_runs(kernels)) {
        throw error(error_code::invalid_argument,
                    "check_cpu_matvec: kernels " + matvec_kernels_name(kernels) + " cannot be checked on this CPU");
    }
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> w(static_cast<size_t>(n_in * n_out)), x(static_cast<size_t>(n_in * n_cols));
    for (float& v : w) v = uniform(gen);
    for (float& v : x) v = uniform(gen);
    std::vector<uint8_t> stored(ggml_row_size(type, n_in) * n_out);
    ggml_quantize_chunk(type, w.data(), stored.data(), 0, n_out, n_in, nullptr);
    // The weights as stored, back to floats, for the exact product.
    std::vector<float> dequant(w.size());
    if (type == GGML_TYPE_F32) {
        std::memcpy(dequant.data(), stored.data(), stored.size());
    } else {
        ggml_get_type_traits(type)->to_float(stored.data(), dequant.data(), n_in * n_out);
    }

    backend_set backends = init_backends(backend_kind::cpu, n_threads);
    const ggml_init_params params = {ggml_tensor_overhead() * 4, nullptr, true};
    const ggml_context_ptr ctx(ggml_init(params));
    ggml_tensor* wt = ggml_new_tensor_2d(ctx.get(), type, n_in, n_out);
    ggml_tensor* xt = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, n_in, n_cols);
    const ggml_backend_buffer_ptr buffer(ggml_backend_alloc_ctx_tensors(ctx.get(), backends.cpu.get()));
    if (!buffer) throw error(error_code::backend, "check_cpu_matvec: no buffer");
    ggml_backend_tensor_set(wt, stored.data(), 0, stored.size());
    ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));

    std::vector<float> ours(static_cast<size_t>(n_out * n_cols)), ref(ours.size());
    ggml_tensor *ours_t = nullptr, *ref_t = nullptr;
    graph_runner runner(backends, 16);
    runner.run(
        [&](ggml_context* gctx) {
            ggml_cgraph* graph = ggml_new_graph_custom(gctx, 16, false);
            ours_t = cpu_matvec(gctx, wt, xt, kernels);
            ref_t = ggml_mul_mat(gctx, wt, xt);
            ggml_set_output(ours_t);
            ggml_set_output(ref_t);
            ggml_build_forward_expand(graph, ours_t);
            ggml_build_forward_expand(graph, ref_t);
            return graph;
        },
        [] {},
        [&] {
            ggml_backend_tensor_get(ours_t, ours.data(), 0, ours.size() * sizeof(float));
            ggml_backend_tensor_get(ref_t, ref.data(), 0, ref.size() * sizeof(float));
        });

    matvec_check check;
    for (int64_t c = 0; c < n_cols; ++c) {
        for (int64_t r = 0; r < n_out; ++r) {
            double exact = 0;
            for (int64_t k = 0; k < n_in; ++k) exact += double(dequant[r * n_in + k]) * x[c * n_in + k];
            const size_t i = static_cast<size_t>(c * n_out + r);
            check.max_abs_diff = std::max(check.max_abs_diff, std::fabs(double(ours[i]) - ref[i]));
            check.max_abs_ref = std::max(check.max_abs_ref, std::fabs(double(ref[i])));
            check.max_abs_exact = std::max(check.max_abs_exact, std::fabs(double(ours[i]) - exact));
        }
    }
    if (type == GGML_TYPE_F32 || type == GGML_TYPE_F16) {
        std::vector<float> p(static_cast<size_t>(n_out)), sum(static_cast<size_t>(n_in));
        for (float& v : p) v = uniform(gen);
        const matvec::kernel_set& set = *matvec::kernel_set_of(kernels);
        const matvec::weights rows{stored.data(), ggml_row_size(type, n_in), n_in};
        (type == GGML_TYPE_F32 ? set.f32_weighted_sum : set.f16_weighted_sum)(rows, p.data(), 0, n_out, sum.data());
        for (int64_t k = 0; k < n_in; ++k) {
            double exact = 0;
            for (int64_t r = 0; r < n_out; ++r) exact += double(p[r]) * dequant[r * n_in + k];
            check.weighted_sum_exact = std::max(check.weighted_sum_exact, std::fabs(double(sum[k]) - exact));
            check.weighted_sum_ref = std::max(check.weighted_sum_ref, std::fabs(exact));
        }
    }
    {
        std::vector<float> inputs(static_cast<size_t>(n_in + 1));
        for (float& v : inputs) v = 8.0f * uniform(gen);
        inputs.back() = 0.0f;
        std::vector<float> ours_g(inputs), scalar_g(inputs);
        matvec::kernel_set_of(kernels)->gelu_erf(ours_g.data(), n_in + 1);
        matvec::kernel_set_of(matvec_kernels::scalar)->gelu_erf(scalar_g.data(), n_in + 1);
        for (size_t i = 0; i < inputs.size(); ++i) {
            const double diff = std::fabs(double(ours_g[i]) - scalar_g[i]);
            if (diff > 0) check.gelu_diff = std::max(check.gelu_diff, diff / std::fabs(double(inputs[i])));
        }
    }
    {
        std::vector<float> inputs(static_cast<size_t>(n_in + 5));
        for (float& v : inputs) v = 25.0f * uniform(gen) - 15.0f;
        const float special[] = {0.0f, -0.0f, -30.0f, -30.5f, std::nanf("")};
        std::copy(std::begin(special), std::end(special), inputs.end() - 5);
        std::vector<float> ours_e(inputs.size()), scalar_e(inputs.size());
        for (size_t offset = 0; offset < 16 && offset < inputs.size(); ++offset) {  // the lanes cut at every place
            const int64_t n = static_cast<int64_t>(inputs.size() - offset);
            matvec::kernel_set_of(kernels)->elu(inputs.data() + offset, ours_e.data(), n);
            matvec::kernel_set_of(matvec_kernels::scalar)->elu(inputs.data() + offset, scalar_e.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                check.elu_mismatches += std::memcmp(&ours_e[i], &scalar_e[i], sizeof(float)) != 0;
            }
        }
    }
    if (const auto conv_frames = matvec::kernel_set_of(kernels)->conv_frames) {
        check.conv_checked = true;
        const int64_t step = std::max<int64_t>(1, n_in / 3), n_t = 13;
        std::vector<float> frames(static_cast<size_t>((n_t - 1) * step + n_in)), bias(static_cast<size_t>(n_out));
        for (float& v : frames) v = uniform(gen);
        for (float& v : bias) v = uniform(gen);
        // The random weights as a [n_in, n_out] matrix, the output channel fastest: weight (k, o) at w[k * n_out + o].
        std::vector<float> y(static_cast<size_t>(n_t * n_out), NAN), part(y.size(), NAN);
        conv_frames(w.data(), n_out, bias.data(), n_out, n_in, frames.data(), step, y.data(), n_out, n_t);
        const int64_t o0 = std::min<int64_t>(16, n_out - 1);
        conv_frames(w.data() + o0, n_out, bias.data() + o0, n_out - o0, n_in, frames.data(), step, part.data() + o0,
                    n_out, n_t);
        for (int64_t t = 0; t < n_t; ++t) {
            for (int64_t o = 0; o < n_out; ++o) {
                float chain = 0.0f;
                double exact = bias[o];
                for (int64_t k = 0; k < n_in; ++k) {
                    chain = std::fma(w[k * n_out + o], frames[t * step + k], chain);
                    exact += double(w[k * n_out + o]) * frames[t * step + k];
                }
                chain = chain + bias[o];
                const size_t i = static_cast<size_t>(t * n_out + o);
                check.conv_mismatches += std::memcmp(&chain, &y[i], sizeof(float)) != 0;
                if (o >= o0) check.conv_mismatches += std::memcmp(&chain, &part[i], sizeof(float)) != 0;
                check.conv_exact = std::max(check.conv_exact, std::fabs(double(y[i]) - exact));
                check.conv_ref = std::max(check.conv_ref, std::fabs(exact));
            }
        }
    }
    if (type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_K) {
        // The random columns, then one of ties (each block's first value -127: x * 1 when it sets the scale), zero
        // blocks and tiny values.
        const int64_t block = type == GGML_TYPE_Q8_0 ? 32 : 256, n_blocks = n_in / block;
        std::vector<float> cols(x);
        for (int64_t k = 0; k < n_in; ++k) {
            const int64_t i = k % block;
            const float tie = i == 0 ? -127.0f : static_cast<float>(i % 64) - 32.0f + 0.5f;
            cols.push_back(k / block % 3 == 0 ? tie : k / block % 3 == 1 ? 0.0f : uniform(gen) * 1e-30f);
        }
        const auto quantised = [&](const matvec::kernel_set& set, int64_t c) {
            std::vector<uint8_t> out(static_cast<size_t>(3 * n_in + n_blocks * 20));
            uint8_t* after = out.data() + n_in;  // the values, then the scales, then the rest
            int8_t* values = reinterpret_cast<int8_t*>(out.data());
            if (type == GGML_TYPE_Q8_0) {
                set.q8_0_column(cols.data() + c * n_in, n_in, values, reinterpret_cast<float*>(after),
                                reinterpret_cast<int32_t*>(after + n_blocks * 4),
                                reinterpret_cast<float*>(after + n_blocks * 4 + n_in));
            } else {
                set.q8_k_column(cols.data() + c * n_in, n_in, values, reinterpret_cast<float*>(after),
                                reinterpret_cast<int16_t*>(after + n_blocks * 4));
            }
            return out;
        };
        const matvec::kernel_set& set = *matvec::kernel_set_of(kernels);
        const matvec::kernel_set& scalar = *matvec::kernel_set_of(matvec_kernels::scalar);
        for (int64_t c = 0; c <= n_cols; ++c) {
            const std::vector<uint8_t> ours_q = quantised(set, c), scalar_q = quantised(scalar, c);
            for (size_t i = 0; i < ours_q.size(); ++i) check.quantized_mismatches += ours_q[i] != scalar_q[i];
        }
    }
    return check;
}

}  // namespace mg
