// The memory-bandwidth floor of one LM step, for bench/ only (see lm-floor.h).
#include "lm-floor.h"

#include <ggml-cpp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cpu-matvec.h"
#include "runtime/error.h"
#include "runtime/graph-runner.h"

namespace mg {

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

lm_products_timing time_lm_products(const model& m, int32_t n_rows, int32_t n_cond, int32_t reps) {
    const lm_hparams& hp = m.hparams.lm;
    if (n_rows < 1 || n_cond < 1 || n_cond > n_rows || reps < 1) {
        throw error(error_code::invalid_argument, "time_lm_products: needs 1 <= n_cond <= n_rows and reps >= 1");
    }
    lm_products_timing timing;
    graph_runner runner(m.backends, 64 + 16 * size_t{hp.n_layer} + 4 * size_t{hp.n_codebooks});
    std::vector<ggml_tensor*> inputs;
    runner.prepare([&](ggml_context* ctx) {
        ggml_cgraph* graph = ggml_new_graph_custom(ctx, runner.max_nodes(), false);
        // One input per distinct (width, columns): the products only need the right shapes.
        const auto input = [&](int64_t width, int64_t columns) {
            for (ggml_tensor* t : inputs) {
                if (t->ne[0] == width && t->ne[1] == columns) return t;
            }
            ggml_tensor* t = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, width, columns);
            ggml_set_input(t);
            inputs.push_back(t);
            return t;
        };
        const auto product = [&](ggml_tensor* w, int64_t columns) {
            if (!w) return;
            ggml_build_forward_expand(graph, project(ctx, w, input(w->ne[0], columns), !m.backends.gpu));
            timing.weight_bytes += static_cast<double>(ggml_nbytes(w));
            timing.macs += static_cast<double>(w->ne[0]) * static_cast<double>(w->ne[1]) * static_cast<double>(columns);
            ++timing.n_products;
        };
        for (const lm_layer& layer : m.lm.layers) {
            for (ggml_tensor* w : {layer.attn_q, layer.attn_k, layer.attn_v, layer.attn_o}) product(w, n_rows);
            product(layer.cross_attn_q, n_cond);
            product(layer.cross_attn_o, n_cond);
            product(layer.ffn_up, n_rows);
            product(layer.ffn_down, n_rows);
        }
        for (ggml_tensor* head : m.lm.output) product(head, n_rows);
        return graph;
    });
    // Inputs of ones: the values do not change the cost of a dense product.
    for (ggml_tensor* t : inputs) {
        const std::vector<float> ones(static_cast<size_t>(ggml_nelements(t)), 1.0f);
        ggml_backend_tensor_set(t, ones.data(), 0, ggml_nbytes(t));
    }
    runner.compute();  // warm-up: first-touch of compute buffers, thread start
    std::vector<double> ms;
    for (int32_t i = 0; i < reps; ++i) {
        const auto start = std::chrono::steady_clock::now();
        runner.compute();
        ms.push_back(elapsed_ms(start));
    }
    std::sort(ms.begin(), ms.end());
    timing.median_ms = ms[ms.size() / 2];
    timing.min_ms = ms.front();
    return timing;
}

double measure_copy_bandwidth(size_t bytes, int n_threads, int reps) {
    if (bytes < 1024 || n_threads < 1 || reps < 1) {
        throw error(error_code::invalid_argument, "measure_copy_bandwidth: needs >= 1 KiB, threads >= 1, reps >= 1");
    }
    std::vector<uint8_t> src(bytes, 1), dst(bytes, 0);  // touched here, so page faults are not timed
    const size_t slice = (bytes / n_threads + 63) / 64 * 64;
    double best_ms = 0;
    for (int r = 0; r < reps; ++r) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < n_threads; ++t) {
            const size_t begin = std::min(bytes, t * slice), end = std::min(bytes, begin + slice);
            threads.emplace_back([&, begin, end] { std::memcpy(dst.data() + begin, src.data() + begin, end - begin); });
        }
        for (std::thread& t : threads) t.join();
        const double ms = elapsed_ms(start);
        if (r == 0 || ms < best_ms) best_ms = ms;
    }
    return 2.0 * static_cast<double>(bytes) / (best_ms / 1000.0);
}

double measure_device_copy_bandwidth(const model& m, size_t bytes, int reps) {
    if (bytes < 1024 || reps < 1) {
        throw error(error_code::invalid_argument, "measure_device_copy_bandwidth: needs >= 1 KiB, reps >= 1");
    }
    ggml_backend_t backend = m.backends.main_backend();
    const ggml_init_params params = {ggml_tensor_overhead() * 4 + ggml_graph_overhead(), nullptr, true};
    const ggml_context_ptr ctx(ggml_init(params));
    // Rows of 4096 floats: the CPU backend splits a copy between its threads by rows.
    const int64_t width = 4096, rows = std::max<int64_t>(1, static_cast<int64_t>(bytes / sizeof(float)) / width);
    const int64_t n = width * rows;
    ggml_tensor* src = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, width, rows);
    ggml_tensor* dst = ggml_new_tensor_2d(ctx.get(), GGML_TYPE_F32, width, rows);
    ggml_cgraph* graph = ggml_new_graph(ctx.get());
    ggml_build_forward_expand(graph, ggml_cpy(ctx.get(), src, dst));
    // Allocated after the copy node exists, so that node (a view of dst) gets its buffer too: a GPU backend skips
    // nodes without one.
    const ggml_backend_buffer_ptr buffer(ggml_backend_alloc_ctx_tensors(ctx.get(), backend));
    if (!buffer) throw error(error_code::backend, "measure_device_copy_bandwidth: no device buffer");
    // dst starts as zeros and src's first and last elements are ones: read back afterwards, they prove the copy ran.
    ggml_backend_buffer_clear(buffer.get(), 0);
    const float one = 1.0f;
    ggml_backend_tensor_set(src, &one, 0, sizeof one);
    ggml_backend_tensor_set(src, &one, (n - 1) * sizeof one, sizeof one);
    double best_ms = 0;
    for (int r = -1; r < reps; ++r) {  // r == -1: warm-up
        const auto start = std::chrono::steady_clock::now();
        if (ggml_backend_graph_compute(backend, graph) != GGML_STATUS_SUCCESS) {
            throw error(error_code::backend, "measure_device_copy_bandwidth: the copy failed");
        }
        ggml_backend_synchronize(backend);
        const double ms = elapsed_ms(start);
        if (r == 0 || (r > 0 && ms < best_ms)) best_ms = ms;
    }
    float first = 0, last = 0;
    ggml_backend_tensor_get(dst, &first, 0, sizeof first);
    ggml_backend_tensor_get(dst, &last, (n - 1) * sizeof last, sizeof last);
    if (first != 1.0f || last != 1.0f) {
        throw error(error_code::backend, "measure_device_copy_bandwidth: the copy did not reach its destination");
    }
    return 2.0 * static_cast<double>(n * sizeof(float)) / (best_ms / 1000.0);
}

}  // namespace mg
