// Model files from JS: inspect(path), loadModel(path, options) -> Promise<Model>, and the Model object
// (info, tokenize, dispose). Loading runs on a worker thread; every mg::error keeps its code in JS.
#include <ggml.h>
#include <gguf.h>

#include <cmath>
#include <memory>
#include <string>

#include "addon.h"
#include "js-args.h"
#include "model/codec-matrices.h"
#include "model/loader.h"
#include "promise-worker.h"
#include "runtime/error.h"

namespace mg_addon {

// Arrays longer than this are summarised in inspect() (the vocabulary alone has tens of thousands of entries).
constexpr size_t max_listed_array = 64;

// Runs `fn`, turning C++ errors into JS errors with a stable `code`.
template <typename F>
static auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const mg::error& e) {
        throw_error(env, mg::error_code_name(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        throw_error(env, "ERR_MUSICGEN_BACKEND", "out of memory");
    }
}

// ---------------------------------------------------------------------------------------------------------------
// inspect(path)

static Napi::Value number(Napi::Env env, uint64_t v) {
    // Above 2^53 a JS number would silently round.
    if (v > (uint64_t{1} << 53)) return Napi::BigInt::New(env, v);
    return Napi::Number::New(env, static_cast<double>(v));
}

static Napi::Value signed_number(Napi::Env env, int64_t v) {
    if (v > (int64_t{1} << 53) || v < -(int64_t{1} << 53)) return Napi::BigInt::New(env, v);
    return Napi::Number::New(env, static_cast<double>(v));
}

// One element of a scalar GGUF value or array, read from raw little-endian data.
static Napi::Value scalar(Napi::Env env, gguf_type type, const void* data, size_t i) {
    switch (type) {
        case GGUF_TYPE_UINT8:
            return Napi::Number::New(env, static_cast<const uint8_t*>(data)[i]);
        case GGUF_TYPE_INT8:
            return Napi::Number::New(env, static_cast<const int8_t*>(data)[i]);
        case GGUF_TYPE_UINT16:
            return Napi::Number::New(env, static_cast<const uint16_t*>(data)[i]);
        case GGUF_TYPE_INT16:
            return Napi::Number::New(env, static_cast<const int16_t*>(data)[i]);
        case GGUF_TYPE_UINT32:
            return Napi::Number::New(env, static_cast<const uint32_t*>(data)[i]);
        case GGUF_TYPE_INT32:
            return Napi::Number::New(env, static_cast<const int32_t*>(data)[i]);
        case GGUF_TYPE_FLOAT32:
            return Napi::Number::New(env, static_cast<const float*>(data)[i]);
        case GGUF_TYPE_FLOAT64:
            return Napi::Number::New(env, static_cast<const double*>(data)[i]);
        case GGUF_TYPE_BOOL:
            return Napi::Boolean::New(env, static_cast<const int8_t*>(data)[i] != 0);
        case GGUF_TYPE_UINT64:
            return number(env, static_cast<const uint64_t*>(data)[i]);
        case GGUF_TYPE_INT64:
            return signed_number(env, static_cast<const int64_t*>(data)[i]);
        default:
            return env.Undefined();
    }
}

static Napi::Value metadata_value(Napi::Env env, const gguf_context* meta, int64_t id) {
    const gguf_type type = gguf_get_kv_type(meta, id);
    if (type == GGUF_TYPE_STRING) return Napi::String::New(env, gguf_get_val_str(meta, id));
    if (type != GGUF_TYPE_ARRAY) return scalar(env, type, gguf_get_val_data(meta, id), 0);

    const gguf_type element = gguf_get_arr_type(meta, id);
    const size_t n = gguf_get_arr_n(meta, id);
    if (n > max_listed_array || element == GGUF_TYPE_ARRAY) {
        Napi::Object summary = Napi::Object::New(env);
        summary.Set("type", std::string(gguf_type_name(element)) + "[]");
        summary.Set("length", number(env, n));
        return summary;
    }
    Napi::Array values = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; ++i) {
        values.Set(static_cast<uint32_t>(i), element == GGUF_TYPE_STRING
                                                 ? Napi::String::New(env, gguf_get_arr_str(meta, id, i))
                                                 : scalar(env, element, gguf_get_arr_data(meta, id), i));
    }
    return values;
}

static Napi::Value inspect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw_error(env, "ERR_INVALID_ARG_TYPE", "inspect(path: string)");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    const mg::model_file_info file = guarded(env, [&] { return mg::inspect_model(path); });
    const gguf_context* meta = file.meta.get();

    Napi::Object metadata = Napi::Object::New(env);
    for (int64_t i = 0; i < gguf_get_n_kv(meta); ++i) metadata.Set(gguf_get_key(meta, i), metadata_value(env, meta, i));

    Napi::Array tensors = Napi::Array::New(env);
    for (int64_t i = 0; i < gguf_get_n_tensors(meta); ++i) {
        const char* name = gguf_get_tensor_name(meta, i);
        const ggml_tensor* t = ggml_get_tensor(file.ctx.get(), name);
        Napi::Array shape = Napi::Array::New(env);
        for (int d = 0; d < ggml_n_dims(t); ++d) shape.Set(static_cast<uint32_t>(d), signed_number(env, t->ne[d]));
        Napi::Object entry = Napi::Object::New(env);
        entry.Set("name", name);
        entry.Set("type", ggml_type_name(gguf_get_tensor_type(meta, i)));
        entry.Set("shape", shape);
        entry.Set("offset", number(env, gguf_get_tensor_offset(meta, i)));
        entry.Set("bytes", number(env, gguf_get_tensor_size(meta, i)));
        tensors.Set(static_cast<uint32_t>(i), entry);
    }

    Napi::Object result = Napi::Object::New(env);
    result.Set("metadata", metadata);
    result.Set("tensors", tensors);
    result.Set("fileBytes", number(env, file.file_bytes));
    result.Set("dataOffset", number(env, file.data_offset));
    return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Model

static Napi::Object hparams_object(Napi::Env env, const mg::model_hparams& hp) {
    Napi::Object t5 = Napi::Object::New(env);
    t5.Set("vocabSize", hp.t5.n_vocab);
    t5.Set("embeddingLength", hp.t5.n_embd);
    t5.Set("feedForwardLength", hp.t5.n_ff);
    t5.Set("blockCount", hp.t5.n_layer);
    t5.Set("headCount", hp.t5.n_head);
    t5.Set("keyLength", hp.t5.n_head_dim);
    t5.Set("relativeBuckets", hp.t5.n_rel_buckets);
    t5.Set("relativeMaxDistance", hp.t5.rel_max_distance);
    t5.Set("layerNormEpsilon", hp.t5.eps);
    t5.Set("feedForwardAct", hp.t5.ffn_act == mg::t5_ffn_act::relu ? "relu" : "gated-gelu");

    Napi::Object lm = Napi::Object::New(env);
    lm.Set("codebookCount", hp.lm.n_codebooks);
    lm.Set("codebookSize", hp.lm.codebook_size);
    lm.Set("embeddingLength", hp.lm.n_embd);
    lm.Set("feedForwardLength", hp.lm.n_ff);
    lm.Set("blockCount", hp.lm.n_layer);
    lm.Set("headCount", hp.lm.n_head);
    lm.Set("maxPosition", hp.lm.max_position);
    lm.Set("layerNormEpsilon", hp.lm.eps);

    Napi::Object codec = Napi::Object::New(env);
    codec.Set("sampleRate", hp.codec.sample_rate);
    codec.Set("hiddenSize", hp.codec.hidden_size);
    codec.Set("numFilters", hp.codec.num_filters);
    Napi::Array ratios = Napi::Array::New(env, hp.codec.upsampling_ratios.size());
    for (size_t i = 0; i < hp.codec.upsampling_ratios.size(); ++i) {
        ratios.Set(static_cast<uint32_t>(i), hp.codec.upsampling_ratios[i]);
    }
    codec.Set("upsamplingRatios", ratios);
    codec.Set("hopLength", static_cast<double>(hp.codec.hop_length()));
    codec.Set("kernelSize", hp.codec.kernel_size);
    codec.Set("lastKernelSize", hp.codec.last_kernel_size);
    codec.Set("residualKernelSize", hp.codec.residual_kernel_size);
    codec.Set("numResidualLayers", hp.codec.num_residual_layers);
    codec.Set("dilationGrowthRate", hp.codec.dilation_growth_rate);
    codec.Set("compress", hp.codec.compress);
    codec.Set("numLstmLayers", hp.codec.num_lstm_layers);
    codec.Set("codebookSize", hp.codec.codebook_size);
    codec.Set("quantizerCount", hp.codec.n_quantizers);

    Napi::Object generation = Napi::Object::New(env);
    generation.Set("maxLength", hp.generation.max_length);
    generation.Set("guidanceScale", hp.generation.guidance_scale);
    generation.Set("padTokenId", hp.generation.pad_token_id);

    Napi::Object out = Napi::Object::New(env);
    out.Set("t5", t5);
    out.Set("lm", lm);
    out.Set("codec", codec);
    out.Set("generation", generation);
    if (hp.lm.variant == mg::lm_variant::melody) {
        Napi::Object melody = Napi::Object::New(env);
        melody.Set("numChroma", hp.melody.num_chroma);
        melody.Set("chromaLength", hp.melody.chroma_length);
        melody.Set("nFft", hp.melody.n_fft);
        melody.Set("hopLength", hp.melody.hop_length);
        melody.Set("chunkLength", hp.melody.chunk_length);
        out.Set("melody", melody);
    }
    return out;
}

// A loaded model as a JS object. Workers that compute with it hold their own shared_ptr, so dispose()
// only drops this object's reference and the memory goes when the last user finishes.
class model_object : public Napi::ObjectWrap<model_object> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(
            env, "Model",
            {InstanceMethod<&model_object::info>("info"), InstanceMethod<&model_object::tokenize>("tokenize"),
             InstanceMethod<&model_object::dispose>("dispose")});
    }

    // Hands a freshly loaded model to the next constructor call (same thread, synchronously).
    static thread_local std::shared_ptr<mg::model> pending;

    explicit model_object(const Napi::CallbackInfo& call) : Napi::ObjectWrap<model_object>(call) {
        if (!pending) throw_error(call.Env(), "ERR_ILLEGAL_CONSTRUCTOR", "Model objects are created by loadModel()");
        model_ = std::move(pending);
    }

    // The live model, for other addon functions (model_from_js).
    std::shared_ptr<mg::model> shared(Napi::Env env) const {
        if (!model_) throw_error(env, "ERR_MUSICGEN_DISPOSED", "the model has been disposed");
        return model_;
    }

    static bool is_model(Napi::Env env, const Napi::Value& value) {
        auto* constructor = env.GetInstanceData<Napi::FunctionReference>();
        return constructor != nullptr && value.IsObject() && value.As<Napi::Object>().InstanceOf(constructor->Value());
    }

  private:
    const mg::model& get(Napi::Env env) const {
        if (!model_) throw_error(env, "ERR_MUSICGEN_DISPOSED", "the model has been disposed");
        return *model_;
    }

    Napi::Value info(const Napi::CallbackInfo& call) {
        Napi::Env env = call.Env();
        const mg::model& m = get(env);
        const mg::model_hparams& hp = m.hparams;
        Napi::Object out = Napi::Object::New(env);
        out.Set("name", hp.name);
        out.Set("variant", hp.lm.variant == mg::lm_variant::text ? "text" : "melody");
        out.Set("sampleRate", hp.sample_rate);
        out.Set("channels", hp.lm.audio_channels);
        out.Set("codebooks", hp.lm.n_codebooks);
        out.Set("frameRate", hp.frame_rate);
        out.Set("maxDuration", static_cast<double>(hp.generation.max_length) / hp.frame_rate);
        out.Set("fileType", hp.file_type);
        out.Set("backend", m.backends.name());
        out.Set("threads", m.backends.n_threads);
        out.Set("kvCache", ggml_type_name(m.lm_cache_type));
        out.Set("codecConvolutions", mg::encodec_decoder_convolves_directly(m) ? "direct" : "columns");
        out.Set("hparams", hparams_object(env, hp));
        return out;
    }

    Napi::Value tokenize(const Napi::CallbackInfo& call) {
        Napi::Env env = call.Env();
        const mg::model& m = get(env);
        if (call.Length() < 1 || !call[0].IsString()) {
            throw_error(env, "ERR_INVALID_ARG_TYPE", "tokenize(text: string)");
        }
        const std::string text = call[0].As<Napi::String>().Utf8Value();
        const std::vector<int32_t> ids = guarded(env, [&] { return m.vocab->encode(text); });
        Napi::Int32Array out = Napi::Int32Array::New(env, ids.size());
        std::copy(ids.begin(), ids.end(), out.Data());
        return out;
    }

    Napi::Value dispose(const Napi::CallbackInfo& call) {
        model_.reset();
        return call.Env().Undefined();
    }

    std::shared_ptr<mg::model> model_;
};

thread_local std::shared_ptr<mg::model> model_object::pending;

std::shared_ptr<mg::model> model_from_js(const Napi::Value& value) {
    Napi::Env env = value.Env();
    if (!model_object::is_model(env, value)) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "expected a Model from loadModel()");
    }
    return model_object::Unwrap(value.As<Napi::Object>())->shared(env);
}

// ---------------------------------------------------------------------------------------------------------------
// loadModel(path, { backend, threads, kvCache }) -> Promise<Model>

class load_worker : public promise_worker {
  public:
    load_worker(Napi::Env env, std::string path, mg::load_params params, Napi::FunctionReference* constructor)
        : promise_worker(env, "musicgen:loadModel", "loading the model"),
          path_(std::move(path)),
          params_(std::move(params)),
          constructor_(constructor) {}

  protected:
    void compute() override { model_ = mg::load_model(path_, params_); }

    Napi::Value result(Napi::Env env) override {
        model_object::pending = std::move(model_);
        try {
            return constructor_->New({});
        } catch (const Napi::Error&) {
            model_object::pending.reset();
            throw;
        }
    }

  private:
    std::string path_;
    mg::load_params params_;
    Napi::FunctionReference* constructor_;
    std::unique_ptr<mg::model> model_;
};

static Napi::Value load_model(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "loadModel(path: string, options?: { backend?, threads?, kvCache? })");
    }
    mg::load_params params;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
        if (!info[1].IsObject()) throw_error(env, "ERR_INVALID_ARG_TYPE", "loadModel: options must be an object");
        Napi::Object options = info[1].As<Napi::Object>();
        Napi::Value backend = options.Get("backend");
        if (!backend.IsUndefined()) {
            if (!backend.IsString()) throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "backend must be a string");
            params.backend = backend.As<Napi::String>().Utf8Value();
            guarded(env, [&] { return mg::parse_backend_kind(params.backend); });
        }
        Napi::Value threads = options.Get("threads");
        if (!threads.IsUndefined()) {
            params.n_threads = static_cast<int>(integer_arg(threads, "threads", 1, 512, "ERR_MUSICGEN_INVALID_OPTION"));
        }
        Napi::Value kv_cache = options.Get("kvCache");
        if (!kv_cache.IsUndefined()) {
            if (!kv_cache.IsString()) throw_error(env, "ERR_MUSICGEN_INVALID_OPTION", "kvCache must be a string");
            params.kv_cache = kv_cache.As<Napi::String>().Utf8Value();
        }
    }
    auto* constructor = static_cast<Napi::FunctionReference*>(info.Data());
    return (new load_worker(env, info[0].As<Napi::String>().Utf8Value(), std::move(params), constructor))->start();
}

void register_model(Napi::Env env, Napi::Object exports) {
    // One constructor per environment (main thread or worker_threads), released with it.
    // Instance data (deleted by N-API with the environment) so model_from_js can check InstanceOf.
    auto* constructor = new Napi::FunctionReference(Napi::Persistent(model_object::define(env)));
    env.SetInstanceData<Napi::FunctionReference>(constructor);
    exports.Set("inspect", Napi::Function::New(env, inspect, "inspect"));
    exports.Set("loadModel", Napi::Function::New(env, load_model, "loadModel", constructor));
}

}  // namespace mg_addon
