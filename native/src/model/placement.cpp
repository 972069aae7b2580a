// See placement.h.
#include "model/placement.h"

#include <ggml-backend.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "model/gguf-keys.h"
#include "runtime/error.h"

namespace mg {

void report_progress(const load_progress& progress, float fraction) {
    if (progress && !progress(fraction)) throw error(error_code::aborted, "model loading was aborted");
}

// CPU: the mapped file is the weight buffer, if its layout meets the CPU buffer's alignment.
static bool place_mapped(model& m, const gguf_file& f, std::unique_ptr<mapped_file>& mapping) {
    const size_t align = ggml_backend_buft_get_alignment(ggml_backend_cpu_buffer_type());
    uint8_t* base = const_cast<uint8_t*>(mapping->data()) + f.data_offset;
    if (gguf_get_alignment(f.meta.get()) % align != 0 || reinterpret_cast<uintptr_t>(base) % align != 0) return false;
    ggml_backend_buffer_ptr buf(ggml_backend_cpu_buffer_from_ptr(base, f.file_bytes - f.data_offset));
    if (!buf) throw error(error_code::backend, "failed to wrap the mapped model file in a CPU buffer");
    for (ggml_tensor* t = ggml_get_first_tensor(m.ctx.get()); t; t = ggml_get_next_tensor(m.ctx.get(), t)) {
        if (ggml_backend_tensor_alloc(buf.get(), t, base + tensor_data_offset(f.meta.get(), t)) !=
            GGML_STATUS_SUCCESS) {
            throw error(error_code::backend, "failed to place tensor '" + std::string(t->name) + "'");
        }
    }
    ggml_backend_buffer_set_usage(buf.get(), GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    m.buffers.push_back(std::move(buf));
    m.mapping = std::move(mapping);
    return true;
}

// Any device: allocate its buffer and copy tensor by tensor, from the mapping or with plain reads.
static void place_copied(model& m, const gguf_file& f, const std::string& path, const mapped_file* mapping,
                         const load_progress& progress) {
    ggml_backend_t backend = m.backends.main_backend();
    ggml_backend_buffer_ptr buf(
        ggml_backend_alloc_ctx_tensors_from_buft(m.ctx.get(), ggml_backend_get_default_buffer_type(backend)));
    if (!buf) {
        throw error(error_code::backend, "failed to allocate " + std::to_string((f.file_bytes - f.data_offset) >> 20) +
                                             " MiB for the weights on " + ggml_backend_name(backend));
    }
    ggml_backend_buffer_set_usage(buf.get(), GGML_BACKEND_BUFFER_USAGE_WEIGHTS);

    std::unique_ptr<FILE, int (*)(FILE*)> file(mapping ? nullptr : ggml_fopen(path.c_str(), "rb"), &std::fclose);
    if (!mapping && !file) {
        throw error(error_code::model_not_found, std::string("cannot open file: ") + std::strerror(errno));
    }
    std::vector<uint8_t> staging;
    const uint64_t total = f.file_bytes - f.data_offset;
    uint64_t done = 0;
    for (ggml_tensor* t = ggml_get_first_tensor(m.ctx.get()); t; t = ggml_get_next_tensor(m.ctx.get(), t)) {
        const uint64_t offset = f.data_offset + tensor_data_offset(f.meta.get(), t);
        const size_t bytes = ggml_nbytes(t);
        const uint8_t* src = nullptr;
        if (mapping) {
            src = mapping->data() + offset;
        } else {
            staging.resize(bytes);
            if (seek_file(file.get(), offset, SEEK_SET) != 0 ||
                std::fread(staging.data(), 1, bytes, file.get()) != bytes) {
                fail("failed to read the data of tensor '" + std::string(t->name) + "' (file changed while loading?)");
            }
            src = staging.data();
        }
        ggml_backend_tensor_set(t, src, 0, bytes);
        done += bytes;
        report_progress(progress, static_cast<float>(static_cast<double>(done) / static_cast<double>(total)));
    }
    m.buffers.push_back(std::move(buf));
}

void place_weights(model& m, const gguf_file& f, const std::string& path, std::unique_ptr<mapped_file> mapping,
                   const load_progress& progress) {
    if (mapping && !m.backends.gpu && place_mapped(m, f, mapping)) return;
    place_copied(m, f, path, mapping.get(), progress);
}

}  // namespace mg
