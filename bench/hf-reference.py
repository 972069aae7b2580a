#!/usr/bin/env python3
"""The Hugging Face transformers reference on the same shapes as `npm run bench`: loads a MusicGen checkpoint folder
(the random-weight ones bench/bench.ts writes under bench/.cache, so no download) with MusicgenForConditionalGeneration
and times generate() with classifier-free guidance and sampling, the way bench.ts times ours:

* LM ms/step: the mean interval between successive decoding steps, excluding the first (prompt encoding and setup),
  taken by a logits processor that synchronises the device at each step (transformers already waits for each step's
  sampled tokens, so the synchronisation adds nothing measurable);
* RTF: audio seconds over the whole generate() (T5 + LM + EnCodec decode), as bench.ts's RTF;
* peak device memory: torch.cuda.max_memory_allocated over the run.

Prints one JSON object on the last line. Used by scripts/gpu-check.sh on the lent GPU (torch with CUDA is there);
it runs anywhere transformers and torch are installed (on the CPU, too slow for the larger shapes).

  python3 bench/hf-reference.py CHECKPOINT_DIR [--frames 250] [--guidance 3] [--dtype float16] [--device cuda]
                                [--label small]
"""
import argparse
import json
import time

import torch
from transformers import LogitsProcessor, LogitsProcessorList, MusicgenForConditionalGeneration


class StepClock(LogitsProcessor):
    """Records the time at every decoding step (a logits processor runs once per step)."""

    def __init__(self, device):
        self.device = device
        self.times = []

    def __call__(self, input_ids, scores):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())
        return scores


def load(folder, dtype, device):
    try:
        model = MusicgenForConditionalGeneration.from_pretrained(folder, dtype=dtype)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = MusicgenForConditionalGeneration.from_pretrained(folder, torch_dtype=dtype)
    return model.to(device).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--frames", type=int, default=250, help="decoding steps (max_new_tokens)")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompt-tokens", type=int, default=12, help="length of the (random) text prompt")
    parser.add_argument("--label", default="", help="a name for the shapes (the bench preset), echoed in the result")
    args = parser.parse_args()

    device = torch.device(args.device)
    started = time.perf_counter()
    model = load(args.checkpoint, getattr(torch, args.dtype), device)
    load_ms = (time.perf_counter() - started) * 1000
    config = model.config
    # Token ids instead of a tokenizer: the text only sets the encoder's sequence length, as in bench.ts's prompts.
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(2, config.text_encoder.vocab_size, (1, args.prompt_tokens), generator=generator)
    inputs = {"input_ids": input_ids.to(device), "attention_mask": torch.ones_like(input_ids).to(device)}
    common = {"do_sample": True, "guidance_scale": args.guidance, **inputs}

    with torch.inference_mode():
        try:
            model.generate(max_new_tokens=8, **common)  # warm-up: kernels, allocator, cuBLAS handles
        except RuntimeError as error:  # T5 in float16 can overflow to inf (a known T5 trait): retry in bfloat16
            if args.dtype != "float16" or "inf" not in str(error).lower() and "nan" not in str(error).lower():
                raise
            args.dtype = "bfloat16"
            model = model.to(torch.bfloat16)
            model.generate(max_new_tokens=8, **common)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        clock = StepClock(device)
        started = time.perf_counter()
        audio = model.generate(max_new_tokens=args.frames, logits_processor=LogitsProcessorList([clock]), **common)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        total_s = time.perf_counter() - started

    steps = clock.times
    ms_per_step = (steps[-1] - steps[0]) / (len(steps) - 1) * 1000
    sample_rate = config.audio_encoder.sampling_rate
    audio_s = audio.shape[-1] / sample_rate
    result = {
        "reference": "transformers",
        "preset": args.label,
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype,  # bfloat16 when float16 overflowed (see the warm-up)
        "frames": args.frames,
        "guidanceScale": args.guidance,
        "loadMs": load_ms,
        "lmMsPerStep": ms_per_step,
        "lmStepsPerSec": 1000 / ms_per_step,
        "audioSeconds": audio_s,
        "realTimeFactor": audio_s / total_s,
        "devicePeakMiB": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
