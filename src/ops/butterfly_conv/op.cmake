# The exact-DFT kernels: one translation unit per storage type (float, bf16, f16), compiled in parallel.
ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/butterfly_conv.cpp ${CMAKE_CURRENT_LIST_DIR}/options.cpp
          ${CMAKE_CURRENT_LIST_DIR}/learned.cpp ${CMAKE_CURRENT_LIST_DIR}/exact_cpu.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/butterfly_conv_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/butterfly_conv/butterfly.cu ${PROJECT_SOURCE_DIR}/cuda/butterfly_conv/butterfly_fft.cu
          ${PROJECT_SOURCE_DIR}/cuda/butterfly_conv/butterfly_fft_bf16.cu
          ${PROJECT_SOURCE_DIR}/cuda/butterfly_conv/butterfly_fft_f16.cu)
# The CPU stages use 32-byte GCC vector types in always-inlined functions: GCC's note on their (unused) calling
# convention is noise.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/exact_cpu.cpp PROPERTIES COMPILE_OPTIONS "-Wno-psabi")
