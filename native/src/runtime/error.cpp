// Errors of the C++ core (see error.h): codes and their JS names.
#include "runtime/error.h"

namespace mg {

const char* error_code_name(error_code code) {
    switch (code) {
        case error_code::model_invalid:
            return "ERR_MUSICGEN_MODEL_INVALID";
        case error_code::model_not_found:
            return "ERR_MUSICGEN_MODEL_NOT_FOUND";
        case error_code::invalid_argument:
            return "ERR_MUSICGEN_INVALID_OPTION";
        case error_code::aborted:
            return "ERR_MUSICGEN_ABORTED";
        case error_code::backend:
            return "ERR_MUSICGEN_BACKEND";
    }
    return "ERR_MUSICGEN_INTERNAL";
}

}  // namespace mg
