// What an EnCodec decode reuses from one decode to the next: its graph runner, whose compute memory the scheduler
// keeps, and the two host windows the streaming decoder assembles each stage's input in and reads its output from.
//
// Why: a decode that allocates these afresh gets them as new mappings and pays a page fault for every page it first
// touches (the compute buffer and the 4 MiB windows of the full-rate stages are over glibc's mmap threshold, and
// freed memory is handed back to the kernel): ~8 000-14 000 faults of ~9 µs per 5 s decode on the development VM,
// and the short decodes of a benchmark ran at half the speed of warm ones. The model keeps a few idle workspaces
// (CPU decoders only: a GPU decoder's whole-clip graph needs compute memory that grows with the clip) and hands
// them out per whole-clip decode; a stream() computes in one of its own for its whole length (pipeline.cpp says
// why), shared by its decoders (one per prompt and channel), which push one after the other.
#pragma once
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "codec/decoder.h"
#include "model/model.h"
#include "runtime/graph-runner.h"

namespace mg {

struct encodec_workspace {
    explicit encodec_workspace(const model& m);
    size_t bytes() const;  // its compute buffer and the capacity of its windows
    graph_runner runner;
    encodec_activations windows[2];  // host activations between stage graphs, used in turn
};

// The model's idle workspaces (model::codec_workspaces).
class encodec_workspace_pool {
  public:
    // Idle workspaces kept at most; more in use at once are freed when they come back.
    static constexpr size_t max_idle = 2;
    // Memory (compute buffer and host windows) of a workspace kept idle at most: musicgen's 25-frame windows take
    // ~32 MiB of compute and ~20 MiB of host memory; one that a stream with long chunks grew further is freed.
    static constexpr size_t max_idle_bytes = size_t{128} << 20;

    std::unique_ptr<encodec_workspace> take();
    void give_back(std::unique_ptr<encodec_workspace> workspace);

  private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<encodec_workspace>> idle_;
};

// A workspace for the duration of one decode (or of streams that share it), returned to its pool, if it came from
// one, when the lease ends.
class encodec_workspace_lease {
  public:
    encodec_workspace_lease(std::unique_ptr<encodec_workspace> workspace, encodec_workspace_pool* pool)
        : workspace_(std::move(workspace)), pool_(pool) {}
    encodec_workspace_lease(encodec_workspace_lease&&) = default;
    encodec_workspace_lease& operator=(encodec_workspace_lease&&) = delete;
    ~encodec_workspace_lease();

    encodec_workspace& operator*() const { return *workspace_; }
    encodec_workspace* operator->() const { return workspace_.get(); }

  private:
    std::unique_ptr<encodec_workspace> workspace_;
    encodec_workspace_pool* pool_;
};

// One of the model's idle workspaces (a new one if none is idle) when its decoder runs on the CPU, else a new one.
encodec_workspace_lease acquire_encodec_workspace(const model& m);

// A new workspace that is freed with its lease: for diagnostics that measure one decode's compute memory, and for
// decodes with stage taps (one graph over the whole clip, whose compute memory should not stay with the model).
encodec_workspace_lease fresh_encodec_workspace(const model& m);

}  // namespace mg
