// Compute devices from ggml's backend registry: the device that holds the weights and runs the graphs
// (a GPU when asked for or available), plus the CPU backend that ggml_backend_sched falls back to for
// operations the GPU lacks. No compile-time backend switches: whatever ggml was built with is registered.
#pragma once
#include <ggml-backend.h>
#include <ggml-cpp.h>

#include <string>
#include <vector>

namespace mg {

enum class backend_kind { auto_select, cpu, cuda, vulkan, metal };

// "auto" | "cpu" | "cuda" | "vulkan" | "metal"; anything else throws mg::error(invalid_argument).
backend_kind parse_backend_kind(const std::string& name);

// A compute device ggml offers here, and whether 'auto' would choose it.
struct device_info {
    std::string name;         // e.g. "CUDA0", "Vulkan0", "CPU"
    std::string description;  // e.g. "NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)"
    std::string backend;      // registry name: "CUDA", "Vulkan", "MTL", "CPU"
    std::string type;         // "gpu" (discrete), "igpu" (integrated), "cpu", "accel"
    size_t memory_total = 0;  // bytes; 0 where the device does not say
    // Why 'auto' passes it over (empty when it would take it): a software rasteriser such as lavapipe runs on the
    // CPU, slower than the CPU backend itself, and is only used when asked for by name.
    std::string auto_skip;
};
std::vector<device_info> list_devices();

struct backend_set {
    ggml_backend_ptr gpu;  // null when running on the CPU only
    ggml_backend_ptr cpu;  // always present
    int n_threads = 1;     // CPU threads

    // Where the weights live and graphs run first.
    ggml_backend_t main_backend() const { return gpu ? gpu.get() : cpu.get(); }
    std::string name() const;  // e.g. "CPU", "CUDA0", "MTL0"

    // Backends in scheduler priority order: the main device first, the CPU last.
    std::vector<ggml_backend_t> sched_backends() const;
    // Fresh backend instances on the same devices (same thread count). A ggml backend instance is not safe
    // to compute on from two threads at once (the CPU backend keeps one work buffer, a GPU backend its
    // streams), while the weights' buffers serve any instance of their device: every graph_runner clones.
    backend_set clone() const;

    // Whether EnCodec's encoder graphs run on the CPU although a GPU holds the weights (their nodes pinned to the
    // CPU, the scheduler copying the weights they read): on Vulkan, where ggml 0.15.1 has no PAD_REFLECT_1D (the
    // encoder's padding: 19 splits in its first graph) and the encoder corrupted host memory on lavapipe 22.3.6 for
    // inputs shorter than its padding. It runs once per audio prompt, off the per-step path. The decoder runs on
    // every backend's device (docs/building.md, Vulkan).
    bool encoder_on_cpu() const;

    // Whether the LM's attention copies the cached keys to a contiguous tensor before the key-query product. On
    // Vulkan: ggml 0.15.1 first copies a mat-mul operand that is not contiguous (here the keys' strided view of the
    // cache) to f16 in a scratch buffer, and with it lavapipe crashed in its queue thread (a call through a freed
    // object) during the first generation steps in 16 of 21 runs with the smoke-test model; with the keys made
    // contiguous 20 of 20 ran clean. lavapipe 25.0.7 ran the strided view clean too, so the fault may be 22.3.6's;
    // the copy stays because it costs about what ggml-vulkan's own f16 copy did. Elsewhere the product reads the
    // view directly (a copy per layer and step would only cost).
    bool contiguous_attention_keys() const;

    // A scheduler over sched_backends() for graphs of up to `graph_size` nodes.
    ggml_backend_sched_ptr new_sched(size_t graph_size) const;
};

// Portable builds (GGML_BACKEND_DL) keep ggml's backends in modules beside the addon: the CPU backend once per
// instruction-set level, GPU backends (CUDA) as optional extras. What load_backend_modules() found.
struct backend_module_failure {
    std::string path;
    std::string reason;  // the loader's error, e.g. "libcudart.so.13: cannot open shared object file"
};
struct backend_modules {
    bool dynamic = false;                        // false: a self-contained build, backends linked in
    std::vector<std::string> registered;         // registry names, e.g. "CPU", "CUDA"
    std::vector<std::string> cpu_features;       // of the CPU backend in use, e.g. "AVX2", "FMA"
    std::vector<backend_module_failure> failed;  // GPU modules present but unusable, with the reason
    std::vector<device_info> devices;            // every device registered, in registry order
};

// Loads the best CPU variant for this machine from `addon_dir`, and every GPU module found there or in
// `extra_dirs` that works on this machine. Call once, before init_backends(); later calls only report.
// Throws mg::error(backend) when no CPU variant can run here. A self-contained build loads nothing.
backend_modules load_backend_modules(const std::string& addon_dir, const std::vector<std::string>& extra_dirs);

// Initialises the requested device (n_threads >= 1 for the CPU backend). 'auto' takes a CUDA device, else a
// discrete GPU, else an integrated one (never a software device), else the CPU; a named kind takes that backend's
// first device, discrete first. A GPU kind that this build or machine does not have throws mg::error(backend)
// naming what is available.
backend_set init_backends(backend_kind kind, int n_threads);

}  // namespace mg
