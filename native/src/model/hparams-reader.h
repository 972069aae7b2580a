// The hyper-parameters and tokenizer vocabulary of a musicgen GGUF file (docs/gguf-format.md), validated so that every
// shape derived from them is meaningful and every component agrees with the others.
#pragma once
#include "model/gguf-keys.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"

namespace mg {

model_hparams read_hparams(const gguf_keys& keys);
tokenizer_vocab read_vocab(const gguf_keys& keys);

}  // namespace mg
