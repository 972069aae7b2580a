// The graph runner (see graph-runner.h): build, allocate through the scheduler, compute, read back.
#include "runtime/graph-runner.h"

#include <string>

#include "runtime/error.h"

namespace mg {

graph_runner::graph_runner(const backend_set& model_backends, size_t max_nodes, bool on_cpu)
    : backends_(model_backends.clone()),
      max_nodes_(max_nodes),
      on_cpu_(on_cpu && backends_.gpu),
      meta_(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false)),
      sched_(backends_.new_sched(max_nodes)) {}

ggml_cgraph* graph_runner::build_and_alloc(const std::function<ggml_cgraph*(ggml_context*)>& build) {
    prepared_ = nullptr;  // its metadata lives in meta_, which the new graph reuses
    ctx_.reset();
    ggml_init_params params = {meta_.size(), meta_.data(), /*no_alloc=*/true};
    ctx_.reset(ggml_init(params));
    if (!ctx_) throw error(error_code::backend, "ggml_init failed for a graph context");
    ggml_cgraph* graph = build(ctx_.get());
    ggml_backend_sched_reset(sched_.get());
    if (on_cpu_) {
        // Every computing node; views stay with their source (a view of a weight on the GPU is a GPU tensor), and
        // the scheduler copies what a CPU node reads from the GPU.
        for (int i = 0; i < ggml_graph_n_nodes(graph); ++i) {
            ggml_tensor* node = ggml_graph_node(graph, i);
            switch (node->op) {
                case GGML_OP_VIEW:
                case GGML_OP_RESHAPE:
                case GGML_OP_PERMUTE:
                case GGML_OP_TRANSPOSE:
                    continue;
                default:
                    ggml_backend_sched_set_tensor_backend(sched_.get(), node, backends_.cpu.get());
            }
        }
    }
    if (!ggml_backend_sched_alloc_graph(sched_.get(), graph)) {
        throw error(error_code::backend, "could not allocate compute memory for a graph of " +
                                             std::to_string(ggml_graph_n_nodes(graph)) + " nodes on " +
                                             backends_.name());
    }
    return graph;
}

void graph_runner::compute(ggml_cgraph* graph) {
    const ggml_status status = ggml_backend_sched_graph_compute(sched_.get(), graph);
    if (status != GGML_STATUS_SUCCESS) {
        throw error(error_code::backend,
                    std::string("graph compute failed on ") + backends_.name() + ": " + ggml_status_to_string(status));
    }
}

void graph_runner::run(const std::function<ggml_cgraph*(ggml_context*)>& build, const std::function<void()>& set_inputs,
                       const std::function<void()>& read_outputs) {
    ggml_cgraph* graph = build_and_alloc(build);
    set_inputs();
    compute(graph);
    read_outputs();
}

void graph_runner::prepare(const std::function<ggml_cgraph*(ggml_context*)>& build) {
    ggml_cgraph* graph = build_and_alloc(build);
    prepared_ = graph;
}

size_t graph_runner::compute_buffer_bytes() const {
    size_t bytes = 0;
    for (ggml_backend_t backend : backends_.sched_backends()) {
        bytes += ggml_backend_sched_get_buffer_size(sched_.get(), backend);
    }
    return bytes;
}

void graph_runner::compute() {
    if (!prepared_) throw error(error_code::backend, "graph_runner::compute() called before prepare()");
    compute(prepared_);
}

}  // namespace mg
