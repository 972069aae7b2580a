// Binds every component's weights (T5, conditioning projections, LM, EnCodec) from a file's tensor table into the
// model's structs by meaningful names, using the hyper-parameters for every expected shape; leftovers are errors.
#pragma once
#include <ggml.h>

#include "model/model.h"

namespace mg {

// Resolves every tensor the hyper-parameters call for into `m` and rejects leftovers.
void bind_tensors(ggml_context* ctx, const model_hparams& hp, model& m);

}  // namespace mg
