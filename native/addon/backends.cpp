// loadBackends(addonDir, extraDirs): lib/native.ts calls this once, right after loading the addon, so that a
// portable build (ggml backends as modules beside the addon) registers the best CPU variant and any GPU
// module that works here. Returns what was registered, which modules failed (for the facade to log) and the
// devices found.
#include <string>
#include <vector>

#include "addon.h"
#include "promise-worker.h"
#include "runtime/backend.h"
#include "runtime/cpu-matvec.h"

namespace mg_addon {

static std::vector<std::string> string_list(Napi::Env env, const Napi::Value& value, const char* what) {
    if (!value.IsArray()) throw_error(env, "ERR_INVALID_ARG_TYPE", std::string(what) + " must be an array of strings");
    const Napi::Array array = value.As<Napi::Array>();
    std::vector<std::string> list;
    for (uint32_t i = 0; i < array.Length(); ++i) {
        const Napi::Value item = array.Get(i);
        if (!item.IsString()) throw_error(env, "ERR_INVALID_ARG_TYPE", std::string(what) + " must hold strings only");
        list.push_back(item.As<Napi::String>().Utf8Value());
    }
    return list;
}

static Napi::Array to_js(Napi::Env env, const std::vector<std::string>& list) {
    Napi::Array array = Napi::Array::New(env, list.size());
    for (uint32_t i = 0; i < list.size(); ++i) array.Set(i, Napi::String::New(env, list[i]));
    return array;
}

static Napi::Value load_backends(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw_error(env, "ERR_INVALID_ARG_TYPE", "loadBackends: addonDir must be a string");
    const std::string addon_dir = info[0].As<Napi::String>().Utf8Value();
    const std::vector<std::string> extra_dirs = string_list(env, info[1], "loadBackends: extraDirs");
    mg::backend_modules modules;
    mg::matvec_kernels kernels = mg::matvec_kernels::ggml;
    std::string code, message;
    if (!capture_error(
            [&] {
                modules = mg::load_backend_modules(addon_dir, extra_dirs);
                kernels = mg::cpu_matvec_kernels();  // MUSICGEN_CPU_KERNELS is checked here, at load
            },
            "loading ggml backends", code, message)) {
        throw_error(env, code.c_str(), message);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("dynamic", Napi::Boolean::New(env, modules.dynamic));
    out.Set("registered", to_js(env, modules.registered));
    out.Set("cpuFeatures", to_js(env, modules.cpu_features));
    out.Set("cpuKernels", mg::matvec_kernels_name(kernels));
    Napi::Array failed = Napi::Array::New(env, modules.failed.size());
    for (uint32_t i = 0; i < modules.failed.size(); ++i) {
        Napi::Object f = Napi::Object::New(env);
        f.Set("path", modules.failed[i].path);
        f.Set("reason", modules.failed[i].reason);
        failed.Set(i, f);
    }
    out.Set("failed", failed);
    Napi::Array devices = Napi::Array::New(env, modules.devices.size());
    for (uint32_t i = 0; i < modules.devices.size(); ++i) {
        const mg::device_info& d = modules.devices[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", d.name);
        o.Set("description", d.description);
        o.Set("backend", d.backend);
        o.Set("type", d.type);
        o.Set("memoryTotal", static_cast<double>(d.memory_total));
        if (!d.auto_skip.empty()) o.Set("autoSkip", d.auto_skip);
        devices.Set(i, o);
    }
    out.Set("devices", devices);
    return out;
}

void register_backends(Napi::Env env, Napi::Object exports) {
    exports.Set("loadBackends", Napi::Function::New(env, load_backends, "loadBackends"));
}

}  // namespace mg_addon
