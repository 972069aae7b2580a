#include "addon.h"

namespace mg_addon {

void register_model(Napi::Env env, Napi::Object exports) {}

}  // namespace mg_addon
