// Compute devices from ggml's backend registry (see backend.h): module loading, selection, schedulers.
#include "runtime/backend.h"

#include <cstring>
#include <filesystem>
#include <mutex>

#include "runtime/error.h"
#include "runtime/ggml-log.h"

namespace mg {

backend_kind parse_backend_kind(const std::string& name) {
    if (name == "auto") return backend_kind::auto_select;
    if (name == "cpu") return backend_kind::cpu;
    if (name == "cuda") return backend_kind::cuda;
    if (name == "vulkan") return backend_kind::vulkan;
    if (name == "metal") return backend_kind::metal;
    throw error(error_code::invalid_argument,
                "unknown backend '" + name + "', expected one of 'auto', 'cpu', 'cuda', 'vulkan', 'metal'");
}

static const char* kind_name(backend_kind kind) {
    switch (kind) {
        case backend_kind::cuda:
            return "cuda";
        case backend_kind::vulkan:
            return "vulkan";
        case backend_kind::metal:
            return "metal";
        case backend_kind::cpu:
            return "cpu";
        case backend_kind::auto_select:
            break;
    }
    return "auto";
}

// Registry names of ggml's GPU backends.
static const char* registry_name(backend_kind kind) {
    return kind == backend_kind::cuda ? "CUDA" : kind == backend_kind::vulkan ? "Vulkan" : "MTL";
}

static const char* backend_of(ggml_backend_dev_t dev) {
    return ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev));
}

static bool is_gpu(ggml_backend_dev_t dev) {
    const auto type = ggml_backend_dev_type(dev);
    return type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU;
}

// ggml reports every Vulkan device as a GPU; the software ones are known by their driver's name. ggml only lists
// them when GGML_VK_VISIBLE_DEVICES names them (tests do, to run the Vulkan shaders on lavapipe).
static bool is_software(ggml_backend_dev_t dev) {
    const std::string description = ggml_backend_dev_description(dev);
    for (const char* driver : {"llvmpipe", "lavapipe", "SwiftShader"}) {
        if (description.find(driver) != std::string::npos) return true;
    }
    return false;
}

static std::string auto_skip_reason(ggml_backend_dev_t dev) {
    if (!is_gpu(dev)) return "not a GPU";
    if (is_software(dev)) return "a software Vulkan device running on the CPU; used only with backend: 'vulkan'";
    return "";
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

// The device a kind asks for, or null. 'auto': CUDA first, then discrete GPUs, then integrated ones, never a
// software device. A named kind: its backend's first discrete device, else its first device of any GPU type.
static ggml_backend_dev_t find_gpu(backend_kind kind) {
    ggml_backend_dev_t best = nullptr;
    int best_rank = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (!is_gpu(dev)) continue;
        int rank;
        if (kind == backend_kind::auto_select) {
            if (!auto_skip_reason(dev).empty()) continue;
            rank = std::strcmp(backend_of(dev), "CUDA") == 0                    ? 3
                   : ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU ? 2
                                                                                : 1;
        } else {
            if (std::strcmp(backend_of(dev), registry_name(kind)) != 0) continue;
            rank = ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU && !is_software(dev) ? 2 : 1;
        }
        if (rank > best_rank) {
            best = dev;
            best_rank = rank;
        }
    }
    return best;
}

std::vector<device_info> list_devices() {
    std::vector<device_info> list;
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        device_info d;
        d.name = ggml_backend_dev_name(dev);
        d.description = ggml_backend_dev_description(dev);
        d.backend = backend_of(dev);
        switch (ggml_backend_dev_type(dev)) {
            case GGML_BACKEND_DEVICE_TYPE_GPU:
                d.type = "gpu";
                break;
            case GGML_BACKEND_DEVICE_TYPE_IGPU:
                d.type = "igpu";
                break;
            case GGML_BACKEND_DEVICE_TYPE_CPU:
                d.type = "cpu";
                break;
            default:
                d.type = "accel";
                break;
        }
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        d.memory_total = total;
        d.auto_skip = d.type == "cpu" ? "" : auto_skip_reason(dev);
        list.push_back(std::move(d));
    }
    return list;
}

static ggml_backend_ptr init_device(ggml_backend_dev_t dev) {
    ggml_backend_ptr backend(ggml_backend_dev_init(dev, nullptr));
    if (!backend) {
        throw error(error_code::backend, std::string("failed to initialise device ") + ggml_backend_dev_name(dev) +
                                             " (" + ggml_backend_dev_description(dev) + ")");
    }
    return backend;
}

// Through the registry rather than ggml_backend_cpu_set_n_threads: in a portable build the CPU backend is a
// runtime-loaded variant library (GGML_BACKEND_DL), so its functions are not linked into the addon.
static void set_cpu_threads(ggml_backend_t cpu, int n_threads) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(cpu));
    auto set_n_threads = reinterpret_cast<ggml_backend_set_n_threads_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
    if (set_n_threads) set_n_threads(cpu, n_threads);
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
            const bool hidden = kind == backend_kind::vulkan && ggml_backend_reg_by_name("Vulkan");
            throw error(error_code::backend,
                        std::string("backend '") + kind_name(kind) +
                            "' is not available in this build or on this machine; devices: " + available_devices() +
                            (hidden ? " (the Vulkan backend found no GPU; software devices such as lavapipe are "
                                      "listed only when GGML_VK_VISIBLE_DEVICES names them)"
                                    : ""));
        }
    }
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw error(error_code::backend, "ggml has no CPU backend registered");
    set.cpu = init_device(cpu);
    set_cpu_threads(set.cpu.get(), n_threads);
    return set;
}

backend_set backend_set::clone() const {
    backend_set set;
    set.n_threads = n_threads;
    if (gpu) set.gpu = init_device(ggml_backend_get_device(gpu.get()));
    set.cpu = init_device(ggml_backend_get_device(cpu.get()));
    set_cpu_threads(set.cpu.get(), n_threads);
    return set;
}

static std::vector<std::string> cpu_features() {
    std::vector<std::string> list;
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("CPU");
    if (!reg) return list;
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features"));
    if (!get_features) return list;
    for (ggml_backend_feature* f = get_features(reg); f && f->name; ++f) list.push_back(f->name);
    return list;
}

static std::vector<std::string> registered_backends() {
    std::vector<std::string> list;
    for (size_t i = 0; i < ggml_backend_reg_count(); ++i)
        list.push_back(ggml_backend_reg_name(ggml_backend_reg_get(i)));
    return list;
}

#ifdef GGML_BACKEND_DL
// "libggml-cuda.so" -> "cuda"; empty for files that are not backend modules (libggml.so.0, libggml-base.so.0)
// and for the CPU variants, which ggml's own scoring chooses between.
static std::string gpu_module_name(const std::filesystem::path& file) {
#ifdef _WIN32
    const std::string prefix = "ggml-", extension = ".dll";
#else
    const std::string prefix = "libggml-", extension = ".so";
#endif
    const std::string name = file.filename().string();
    if (name.size() <= prefix.size() + extension.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - extension.size(), extension.size(), extension) != 0) {
        return "";
    }
    std::string backend = name.substr(prefix.size(), name.size() - prefix.size() - extension.size());
    backend = backend.substr(0, backend.find('-'));
    return backend == "cpu" || backend == "base" ? "" : backend;
}

// ggml registry names differ from module file names for some backends.
static const char* registry_name_of_module(const std::string& module) {
    if (module == "cuda") return "CUDA";
    if (module == "metal") return "MTL";
    if (module == "vulkan") return "Vulkan";
    return nullptr;
}

// Each CPU module with the reason it was not taken: the loader's error (a missing dependency...) or a CPU
// without the instruction set the module was built for.
static std::string why_no_cpu_module(const std::string& dir) {
    std::string reasons;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("libggml-cpu", 0) != 0 && name.rfind("ggml-cpu", 0) != 0) continue;
        ggml_error_capture capture;
        const bool loaded = ggml_backend_load(entry.path().string().c_str()) != nullptr;
        const std::string why = loaded ? "loaded on retry" : capture.reason();
        reasons += (reasons.empty() ? "" : "; ") + name + " (" + (why.empty() ? "needs a newer CPU" : why) + ")";
    }
    return reasons.empty() ? "no libggml-cpu-*.so files beside the addon" : reasons;
}

static const char* const no_device = "loaded, but it found no device (is the driver installed?)";
static const char* const no_vulkan_device =
    "loaded, but it found no Vulkan GPU (is a Vulkan driver installed? software devices such as lavapipe are listed "
    "only when GGML_VK_VISIBLE_DEVICES names them)";

static std::vector<backend_module_failure> load_modules(const std::string& addon_dir,
                                                        const std::vector<std::string>& extra_dirs) {
    // Best-scoring CPU variant and whichever GPU modules load, silently (ggml's release builds say nothing).
    ggml_backend_load_all_from_path(addon_dir.c_str());
    if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) {
        throw error(error_code::backend,
                    "no CPU backend module in " + addon_dir + " can be used here: " + why_no_cpu_module(addon_dir));
    }
    // Every GPU module found but not registered is tried once more, loudly, to learn why it did not load.
    std::vector<backend_module_failure> failed;
    std::vector<std::string> dirs{addon_dir};
    dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
    for (const std::string& dir : dirs) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
            const std::string module = gpu_module_name(entry.path());
            if (module.empty()) continue;
            const char* reg_name = registry_name_of_module(module);
            ggml_backend_reg_t reg = reg_name ? ggml_backend_reg_by_name(reg_name) : nullptr;
            if (!reg) {
                ggml_error_capture capture;
                reg = ggml_backend_load(entry.path().string().c_str());
                if (!reg) {
                    const std::string why = capture.reason();
                    failed.push_back({entry.path().string(), why.empty() ? "the library could not be loaded" : why});
                    continue;
                }
            }
            if (ggml_backend_reg_dev_count(reg) == 0) {
                failed.push_back({entry.path().string(), module == "vulkan" ? no_vulkan_device : no_device});
            }
        }
    }
    return failed;
}
#endif

backend_modules load_backend_modules(const std::string& addon_dir, const std::vector<std::string>& extra_dirs) {
    backend_modules report;
#ifdef GGML_BACKEND_DL
    static std::mutex mutex;
    static bool loaded = false;
    static std::vector<backend_module_failure> failed;
    std::lock_guard<std::mutex> lock(mutex);
    if (!loaded) {
        failed = load_modules(addon_dir, extra_dirs);
        loaded = true;
    }
    report.dynamic = true;
    report.failed = failed;
#else
    (void)addon_dir;
    (void)extra_dirs;
#endif
    report.registered = registered_backends();
    report.cpu_features = cpu_features();
    report.devices = list_devices();
    return report;
}

// Where ggml 0.15.1's Vulkan backend corrupted memory on lavapipe (backend.h says which graphs).
static bool on_vulkan(const backend_set& set) {
    return set.gpu && std::strcmp(backend_of(ggml_backend_get_device(set.gpu.get())), "Vulkan") == 0;
}

bool backend_set::encoder_on_cpu() const { return on_vulkan(*this); }

bool backend_set::contiguous_attention_keys() const { return on_vulkan(*this); }

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
