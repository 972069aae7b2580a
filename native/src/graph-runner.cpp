#include "graph-runner.h"

#include <string>

#include "error.h"

namespace mg {

graph_runner::graph_runner(const backend_set& model_backends, size_t max_nodes)
    : backends_(model_backends.clone()),
      max_nodes_(max_nodes),
      meta_(ggml_tensor_overhead() * max_nodes + ggml_graph_overhead_custom(max_nodes, false)),
      sched_(backends_.new_sched(max_nodes)) {}

void graph_runner::run(const std::function<ggml_cgraph*(ggml_context*)>& build, const std::function<void()>& set_inputs,
                       const std::function<void()>& read_outputs) {
    ggml_init_params params = {meta_.size(), meta_.data(), /*no_alloc=*/true};
    ggml_context_ptr ctx(ggml_init(params));
    if (!ctx) throw error(error_code::backend, "ggml_init failed for a graph context");
    ggml_cgraph* graph = build(ctx.get());
    ggml_backend_sched_reset(sched_.get());
    if (!ggml_backend_sched_alloc_graph(sched_.get(), graph)) {
        throw error(error_code::backend, "could not allocate compute memory for a graph of " +
                                             std::to_string(ggml_graph_n_nodes(graph)) + " nodes on " +
                                             backends_.name());
    }
    set_inputs();
    const ggml_status status = ggml_backend_sched_graph_compute(sched_.get(), graph);
    if (status != GGML_STATUS_SUCCESS) {
        throw error(error_code::backend,
                    std::string("graph compute failed on ") + backends_.name() + ": " + ggml_status_to_string(status));
    }
    read_outputs();
}

}  // namespace mg
