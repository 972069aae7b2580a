// Async work that settles a Promise (see promise-worker.h): runs compute() off the JS thread, then resolves or
// rejects with a typed error on it.
#include "promise-worker.h"

#include <new>

#include "runtime/error.h"

namespace mg_addon {

bool capture_error(const std::function<void()>& fn, const char* what, std::string& code, std::string& message) {
    try {
        fn();
        return true;
    } catch (const mg::error& e) {
        code = mg::error_code_name(e.code());
        message = e.what();
    } catch (const std::bad_alloc&) {
        code = mg::error_code_name(mg::error_code::backend);
        message = std::string("out of memory while ") + what;
    }
    return false;
}

Napi::Error coded_error(Napi::Env env, const std::string& code, const std::string& message) {
    // Node's own classes for argument errors (as its ERR_INVALID_ARG_TYPE / _VALUE are), Error for the rest.
    Napi::Error error = code == "ERR_INVALID_ARG_TYPE"    ? Napi::TypeError::New(env, message)
                        : code == "ERR_INVALID_ARG_VALUE" ? Napi::RangeError::New(env, message)
                                                          : Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
}

}  // namespace mg_addon
