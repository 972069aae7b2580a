// createTokenizer(vocab) -> { encode(text) }: the SentencePiece tokenizer built from the GGUF's tokenizer.ggml.*
// values (or straight from a spiece.model read in TypeScript).
#include "tokenizer/tokenizer.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "addon.h"
#include "js-args.h"
#include "runtime/error.h"

namespace mg_addon {

[[noreturn]] static void throw_type_error(Napi::Env env, const std::string& message) {
    throw_error(env, "ERR_INVALID_ARG_TYPE", "createTokenizer: " + message);
}

static Napi::Value field(const Napi::Object& vocab, const char* name) {
    if (!vocab.Has(name)) throw_type_error(vocab.Env(), std::string("vocab.") + name + " is missing");
    return vocab.Get(name);
}

static bool bool_field(const Napi::Object& vocab, const char* name) {
    const Napi::Value v = field(vocab, name);
    if (!v.IsBoolean()) throw_type_error(vocab.Env(), std::string("vocab.") + name + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
}

static int64_t integer_field(const Napi::Object& vocab, const char* name, int64_t min, int64_t max) {
    return integer_arg(field(vocab, name), std::string("createTokenizer: vocab.") + name, min, max,
                       "ERR_INVALID_ARG_TYPE");
}

// The typed array's elements, copied; its elements must be T.
template <class T>
static std::vector<T> typed_array_field(const Napi::Object& vocab, const char* name, const char* type_name) {
    const Napi::Value v = field(vocab, name);
    if (!is_typed_array<T>(v)) {
        throw_type_error(vocab.Env(), std::string("vocab.") + name + " must be a " + type_name);
    }
    const Napi::TypedArrayOf<T> array = v.As<Napi::TypedArrayOf<T>>();
    return std::vector<T>(array.Data(), array.Data() + array.ElementLength());
}

static mg::tokenizer_vocab read_vocab(Napi::Env env, const Napi::Value& value) {
    if (!value.IsObject()) throw_type_error(env, "vocab must be an object");
    const Napi::Object vocab = value.As<Napi::Object>();
    mg::tokenizer_vocab v;
    const Napi::Value pieces = field(vocab, "pieces");
    if (!pieces.IsArray()) throw_type_error(env, "vocab.pieces must be an array of strings");
    const Napi::Array array = pieces.As<Napi::Array>();
    v.pieces.reserve(array.Length());
    for (uint32_t i = 0; i < array.Length(); ++i) {
        const Napi::Value piece = array.Get(i);
        if (!piece.IsString()) throw_type_error(env, "vocab.pieces[" + std::to_string(i) + "] is not a string");
        v.pieces.push_back(piece.As<Napi::String>().Utf8Value());
    }
    v.scores = typed_array_field<float>(vocab, "scores", "Float32Array");
    v.types = typed_array_field<int32_t>(vocab, "types", "Int32Array");
    v.charsmap = typed_array_field<uint8_t>(vocab, "charsmap", "Uint8Array");
    v.add_dummy_prefix = bool_field(vocab, "addDummyPrefix");
    v.remove_extra_whitespaces = bool_field(vocab, "removeExtraWhitespaces");
    v.escape_whitespaces = bool_field(vocab, "escapeWhitespaces");
    constexpr int64_t int32_max = std::numeric_limits<int32_t>::max();
    v.eos_id = static_cast<int32_t>(integer_field(vocab, "eosId", 0, int32_max));
    v.unk_id = static_cast<int32_t>(integer_field(vocab, "unkId", 0, int32_max));
    v.pad_id = static_cast<int32_t>(integer_field(vocab, "padId", 0, int32_max));
    v.extra_ids = static_cast<uint32_t>(integer_field(vocab, "extraIds", 0, int32_max));
    return v;
}

// encode(text: string | Uint8Array): Int32Array — a Uint8Array is taken as raw (possibly malformed) UTF-8.
static Napi::Value encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto* tok = static_cast<const mg::tokenizer*>(info.Data());
    std::string text;
    if (info.Length() == 1 && info[0].IsString()) {
        text = info[0].As<Napi::String>().Utf8Value();
    } else if (info.Length() == 1 && is_typed_array<uint8_t>(info[0])) {
        const Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
        text.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ElementLength());
    } else {
        throw_error(env, "ERR_INVALID_ARG_TYPE", "encode(text: string | Uint8Array)");
    }
    std::vector<int32_t> ids;
    try {
        ids = tok->encode(text);
    } catch (const mg::error& e) {
        throw_error(env, mg::error_code_name(e.code()), e.what());
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, ids.size());
    std::copy(ids.begin(), ids.end(), out.Data());
    return out;
}

static Napi::Value create_tokenizer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1) throw_type_error(env, "expects one vocab object");
    std::unique_ptr<mg::tokenizer> tok;
    try {
        tok = std::make_unique<mg::tokenizer>(read_vocab(env, info[0]));
    } catch (const mg::error& e) {
        throw_error(env, mg::error_code_name(e.code()), e.what());
    }
    // The encode function owns the tokenizer, so it stays valid however long JS keeps the function.
    Napi::Function fn = Napi::Function::New(env, encode, "encode", tok.get());
    fn.AddFinalizer([](Napi::Env, mg::tokenizer* t) { delete t; }, tok.release());
    Napi::Object result = Napi::Object::New(env);
    result.Set("encode", fn);
    return result;
}

void register_tokenizer(Napi::Env env, Napi::Object exports) {
    exports.Set("createTokenizer", Napi::Function::New(env, create_tokenizer, "createTokenizer"));
}

}  // namespace mg_addon
