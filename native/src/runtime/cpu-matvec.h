// Matrix-vector products for the LM's per-step projections on the CPU backend. One generation step multiplies every
// weight matrix by two columns (the conditional and the unconditional row of classifier-free guidance); ggml's CPU
// products are built for matrices (tiles of rows x columns) and reach a third of the machine's memory bandwidth on
// such skinny products (docs/performance.md). These kernels stream each weight row once and dot it with every column
// while it is in registers: f32, f16 and q8_0 weights, with AVX-512 (VNNI), AVX2 (FMA, F16C) and portable scalar
// variants chosen at run time (so a portable build keeps them). They run as a ggml custom op, so on other backends
// (and for the many-column products of a prompt) the graph keeps ggml_mul_mat.
#pragma once
#include <ggml.h>

#include <string>
#include <vector>

namespace mg {

// Which kernels the CPU products use: ggml's own mul_mat, or ours with an instruction set.
enum class matvec_kernels { ggml, scalar, avx2, avx512 };

// The kernels of this process: MUSICGEN_CPU_KERNELS (ggml | scalar | avx2 | avx512) when set, else the best this
// CPU runs. Asking for an instruction set the CPU lacks throws mg::error(invalid_argument) naming what it has.
matvec_kernels cpu_matvec_kernels();
std::string matvec_kernels_name(matvec_kernels kernels);
// "ggml" | "scalar" | "avx2" | "avx512"; anything else throws mg::error(invalid_argument).
matvec_kernels parse_matvec_kernels(const std::string& name);

// Whether cpu_matvec() takes this product: weights of a type with a kernel, at most 8 columns.
bool cpu_matvec_takes(const ggml_tensor* w, const ggml_tensor* x);

// Whether this CPU runs the kernels (ggml's and the scalar ones run everywhere).
bool cpu_runs(matvec_kernels kernels);

// w [n_in, n_out] times x [n_in, ...] (f32, contiguous) = [n_out, ...], as ggml_mul_mat, through our kernels of
// that kind (a custom op: run it on the CPU backend only). Requires cpu_matvec_takes(w, x), cpu_runs(kernels) and
// kernels other than ggml; throws mg::error(backend) otherwise.
ggml_tensor* cpu_matvec(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, matvec_kernels kernels);

// What surrounds a step's products in a transformer layer, done inside the product op: the layer norm of x before
// (ggml_norm, then times norm_w plus norm_b), GELU after (ggml_gelu_erf), or the residual stream added after
// (ggml_add(residual, product), zero-padded to the residual's columns).
struct matvec_fusion {
    ggml_tensor* norm_w = nullptr;
    ggml_tensor* norm_b = nullptr;
    float eps = 0.0f;
    bool gelu = false;
    ggml_tensor* residual = nullptr;
};

// Whether cpu_matvec_fused takes these products: the graph runs on the CPU with our kernels, and cpu_matvec takes
// every one (1 to 3 matrices of one type and shape).
bool cpu_matvec_fuses(bool cpu, const std::vector<ggml_tensor*>& ws, const ggml_tensor* x);

// The products of x with each of `ws` as one op on the CPU, the columns prepared once (one graph node and barrier
// instead of one per product and per surrounding op): [n_out, n_cols, n_weights], each matrix's product one block
// after another, or the residual's shape with a residual (then one matrix). Requires cpu_matvec_fuses(true, ws, x);
// throws mg::error(backend) otherwise.
ggml_tensor* cpu_matvec_fused(ggml_context* ctx, const std::vector<ggml_tensor*>& ws, ggml_tensor* x,
                              const matvec_fusion& fusion);

// The EnCodec decoder's ELU of n values on the CPU (dst may be src) with this process's kernel set (the scalar one
// when the products are ggml's): every set gives every element the same value (cpu-matvec-kernels.h, elu_scalar).
void cpu_elu(const float* src, float* dst, int64_t n);

// The EnCodec decoder's direct convolution kernel (cpu-matvec-kernels.h: conv_frames) of this process's kernel set,
// or null where the decoder's convolutions stay ggml's products of gathered columns (the ggml and scalar kinds).
using conv_frames_kernel = void (*)(const float* w, int64_t w_step, const float* bias, int64_t n_o, int64_t n_k,
                                    const float* x, int64_t x_step, float* y, int64_t y_step, int64_t n_t);
conv_frames_kernel cpu_conv_frames();

// cpu_matvec when the graph runs on the CPU, the kernels are not ggml's and it takes the product; else
// ggml_mul_mat.
ggml_tensor* project(ggml_context* ctx, ggml_tensor* w, ggml_tensor* x, bool cpu);

}  // namespace mg
