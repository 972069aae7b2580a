// Runs ggml graphs of one model component on the model's backends through ggml_backend_sched.
// Whisper.cpp-style: the caller builds the graph into a scratch no-alloc context (build), the
// scheduler allocates it, the caller uploads inputs (set_inputs), ggml computes, the caller reads
// outputs (read_outputs) before the next run reuses the memory. Each runner computes on its own backend
// instances (backend_set::clone), so concurrent runs on one model never share scratch memory.
#pragma once
#include <ggml-backend.h>
#include <ggml-cpp.h>
#include <ggml.h>

#include <functional>
#include <vector>

#include "runtime/backend.h"

namespace mg {

class graph_runner {
  public:
    // `on_cpu`: every node runs on the CPU backend even when a GPU holds the weights (backend_set::encoder_on_cpu).
    graph_runner(const backend_set& model_backends, size_t max_nodes, bool on_cpu = false);

    // Builds, allocates and computes one graph. Throws mg::error(backend) when allocation or compute fails.
    void run(const std::function<ggml_cgraph*(ggml_context*)>& build, const std::function<void()>& set_inputs,
             const std::function<void()>& read_outputs);

    // For a graph computed many times with new input values but the same shapes: builds and allocates it
    // once; compute() then runs it without any per-call build or allocation. The graph (and the tensors the
    // builder returned) stay valid until the next prepare() or run().
    void prepare(const std::function<ggml_cgraph*(ggml_context*)>& build);
    void compute();
    bool prepared() const { return prepared_ != nullptr; }

    size_t max_nodes() const { return max_nodes_; }

    // Bytes of compute memory the scheduler holds for this runner's graphs, every backend's buffer together:
    // that of the largest graph run so far (ggml's graph allocator only ever grows its buffers) and held until
    // the runner is destroyed. For diagnostics: a test compares it with the facade's memory estimate.
    size_t compute_buffer_bytes() const;

  private:
    backend_set backends_;  // this runner's own instances of the model's devices
    size_t max_nodes_;
    bool on_cpu_;
    std::vector<uint8_t> meta_;  // scratch for tensor/graph metadata of the graph being built
    ggml_backend_sched_ptr sched_;
    ggml_context_ptr ctx_;             // metadata of the prepared graph (in meta_)
    ggml_cgraph* prepared_ = nullptr;  // the graph prepare() allocated, or null

    ggml_cgraph* build_and_alloc(const std::function<ggml_cgraph*(ggml_context*)>& build);
    void compute(ggml_cgraph* graph);
};

}  // namespace mg
