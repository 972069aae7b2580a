# The instruction sets of the CPU matrix-vector kernels (native/src/runtime/cpu-matvec-*.cpp): each file is compiled
# with its set enabled and called only where the CPU has it (cpu-matvec.cpp checks at run time), so a portable build
# keeps them. Included by every CMake project that compiles native/src (the addon's, the fuzzers').
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  # Every set computes the ELU's operations as written (cpu-matvec-kernels.h: elu_scalar), never fused into FMAs.
  set_source_files_properties("${CMAKE_CURRENT_LIST_DIR}/cpu-matvec.cpp" PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
endif()
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i.86" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set_source_files_properties("${CMAKE_CURRENT_LIST_DIR}/cpu-matvec-avx2.cpp"
    PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-ffp-contract=off")
  # -Wno-(maybe-)uninitialized: GCC 12 warns inside its own AVX-512 headers (the _mm512_undefined_* operands of
  # inserts and reductions, GCC bug 105593).
  set_source_files_properties("${CMAKE_CURRENT_LIST_DIR}/cpu-matvec-avx512.cpp"
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mfma;-mf16c;-ffp-contract=off;-Wno-maybe-uninitialized;-Wno-uninitialized")
endif()
