// Loading a musicgen GGUF file, step by step, each step in a file of its own: open and validate the file
// (gguf-file), read the hyper-parameters and vocabulary (hparams-reader), bind every component's weights
// (weight-binding over tensor-table), place them on the chosen backend (placement), then re-lay out the codec
// decoder's convolution weights (codec-matrices).
#include "model/loader.h"

#include <algorithm>
#include <thread>

#include "model/arch.h"
#include "model/codec-matrices.h"
#include "model/gguf-file.h"
#include "model/gguf-keys.h"
#include "model/hparams-reader.h"
#include "model/placement.h"
#include "model/weight-binding.h"
#include "runtime/error.h"

namespace mg {

model::model() = default;
model::~model() = default;

namespace {

// The file, validated, with the hyper-parameters and vocabulary it declares.
struct opened_model_file {
    gguf_file file;
    model_hparams hparams;
    std::unique_ptr<tokenizer> vocab;
};

opened_model_file open_model_file(const std::string& path) {
    opened_model_file f;
    f.file = open_gguf_file(path);
    const gguf_keys keys(f.file.meta.get());
    f.hparams = read_hparams(keys);
    f.vocab = std::make_unique<tokenizer>(read_vocab(keys));
    if (f.vocab->vocab_size() > f.hparams.t5.n_vocab) {
        fail("the tokenizer has " + std::to_string(f.vocab->vocab_size()) + " tokens but '" + kv::t5_vocab_size +
             "' is only " + std::to_string(f.hparams.t5.n_vocab));
    }
    return f;
}

}  // namespace

model_file_info inspect_model(const std::string& path) {
    opened_model_file f = open_model_file(path);
    model scratch;
    bind_tensors(f.file.ctx.get(), f.hparams, scratch);
    model_file_info info;
    info.meta = std::move(f.file.meta);
    info.ctx = std::move(f.file.ctx);
    info.hparams = f.hparams;
    info.file_bytes = f.file.file_bytes;
    info.data_offset = f.file.data_offset;
    return info;
}

// load_params::kv_cache as a type: F32, F16, or GGML_TYPE_COUNT for "auto" (decided by the weights once bound).
static ggml_type parse_kv_cache(const std::string& kv_cache) {
    if (kv_cache == "f32") return GGML_TYPE_F32;
    if (kv_cache == "f16") return GGML_TYPE_F16;
    if (kv_cache == "auto") return GGML_TYPE_COUNT;
    throw error(error_code::invalid_argument,
                "kvCache must be one of 'auto', 'f32', 'f16' but received '" + kv_cache + "'");
}

// "auto": f32 for f32 LM weights, f16 otherwise.
static ggml_type auto_kv_cache(const musicgen_lm& lm) {
    return lm.layers.empty() || lm.layers[0].attn_q->type == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
}

std::unique_ptr<model> load_model(const std::string& path, const load_params& params) {
    const backend_kind kind = parse_backend_kind(params.backend);
    if (params.n_threads < 0) throw error(error_code::invalid_argument, "n_threads must be >= 0");
    const ggml_type kv_cache = parse_kv_cache(params.kv_cache);  // a bad value fails before the file is read
    const int n_threads =
        params.n_threads > 0 ? params.n_threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

    opened_model_file f = open_model_file(path);
    auto m = std::make_unique<model>();
    bind_tensors(f.file.ctx.get(), f.hparams, *m);
    m->hparams = f.hparams;
    m->vocab = std::move(f.vocab);
    m->ctx = std::move(f.file.ctx);
    m->lm_cache_type = kv_cache == GGML_TYPE_COUNT ? auto_kv_cache(m->lm) : kv_cache;
    m->backends = init_backends(kind, n_threads);
    report_progress(params.progress, 0.0f);

    place_weights(*m, f.file, path, mapped_file::map(path, f.file.file_bytes), params.progress);
    encodec_prepare_decoder_matrices(*m);
    report_progress(params.progress, 1.0f);
    return m;
}

}  // namespace mg
