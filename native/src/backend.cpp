#include "backend.h"

#include <ggml-cpu.h>

#include <cstring>

#include "error.h"

namespace mg {

backend_kind parse_backend_kind(const std::string& name) {
    if (name == "auto") return backend_kind::auto_select;
    if (name == "cpu") return backend_kind::cpu;
    if (name == "cuda") return backend_kind::cuda;
    if (name == "metal") return backend_kind::metal;
    throw error(error_code::invalid_argument,
                "unknown backend '" + name + "', expected one of 'auto', 'cpu', 'cuda', 'metal'");
}

// Registry names of ggml's GPU backends.
static const char* registry_name(backend_kind kind) { return kind == backend_kind::cuda ? "CUDA" : "MTL"; }

static bool is_gpu(ggml_backend_dev_t dev) {
    const auto type = ggml_backend_dev_type(dev);
    return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

// "CUDA0 (NVIDIA H100), CPU (...)": what this build and machine offer, for error messages.
static std::string available_devices() {
    std::string list;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (!list.empty()) list += ", ";
        list += std::string(ggml_backend_dev_name(dev)) + " (" + ggml_backend_dev_description(dev) + ")";
    }
    return list.empty() ? "none" : list;
}

// The first device of the wanted kind; discrete GPUs are preferred over integrated ones for 'auto'.
static ggml_backend_dev_t find_gpu(backend_kind kind) {
    ggml_backend_dev_t integrated = nullptr;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (!is_gpu(dev)) continue;
        if (kind != backend_kind::auto_select &&
            std::strcmp(ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev)), registry_name(kind)) != 0) {
            continue;
        }
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU) return dev;
        if (!integrated) integrated = dev;
    }
    return integrated;
}

static ggml_backend_ptr init_device(ggml_backend_dev_t dev) {
    ggml_backend_ptr backend(ggml_backend_dev_init(dev, nullptr));
    if (!backend) {
        throw error(error_code::backend, std::string("failed to initialise device ") + ggml_backend_dev_name(dev) +
                                             " (" + ggml_backend_dev_description(dev) + ")");
    }
    return backend;
}

backend_set init_backends(backend_kind kind, int n_threads) {
    if (n_threads < 1) throw error(error_code::invalid_argument, "n_threads must be at least 1");
    backend_set set;
    set.n_threads = n_threads;
    if (kind != backend_kind::cpu) {
        ggml_backend_dev_t gpu = find_gpu(kind);
        if (gpu) {
            set.gpu = init_device(gpu);
        } else if (kind != backend_kind::auto_select) {
            const char* wanted = kind == backend_kind::cuda ? "cuda" : "metal";
            throw error(error_code::backend,
                        std::string("backend '") + wanted +
                            "' is not available in this build or on this machine; devices: " + available_devices());
        }
    }
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw error(error_code::backend, "ggml has no CPU backend registered");
    set.cpu = init_device(cpu);
    ggml_backend_cpu_set_n_threads(set.cpu.get(), n_threads);
    return set;
}

backend_set backend_set::clone() const {
    backend_set set;
    set.n_threads = n_threads;
    if (gpu) set.gpu = init_device(ggml_backend_get_device(gpu.get()));
    set.cpu = init_device(ggml_backend_get_device(cpu.get()));
    ggml_backend_cpu_set_n_threads(set.cpu.get(), n_threads);
    return set;
}

std::string backend_set::name() const { return ggml_backend_name(main_backend()); }

std::vector<ggml_backend_t> backend_set::sched_backends() const {
    std::vector<ggml_backend_t> list;
    if (gpu) list.push_back(gpu.get());
    list.push_back(cpu.get());
    return list;
}

ggml_backend_sched_ptr backend_set::new_sched(size_t graph_size) const {
    std::vector<ggml_backend_t> list = sched_backends();
    // The CPU must come last: the scheduler runs operations the GPU does not support there.
    ggml_backend_sched_ptr sched(ggml_backend_sched_new(list.data(), nullptr, static_cast<int>(list.size()), graph_size,
                                                        /*parallel=*/false, /*op_offload=*/true));
    if (!sched) throw error(error_code::backend, "failed to create the ggml backend scheduler");
    return sched;
}

}  // namespace mg
