ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/selective_scan.cpp ${CMAKE_CURRENT_LIST_DIR}/selective_scan_cpu.cpp
          ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_default.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/selective_scan_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/selective_scan/selective_scan.cu)
# -fno-trapping-math: the kernels' selects on floats (vexp's range limits, ops/common/vec_math.h) may then be evaluated
# on every lane, which is what lets GCC vectorize them (results are unchanged; no code here reads FP exception flags).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_default.cpp PROPERTIES
  COMPILE_OPTIONS "-fno-trapping-math")
# On x86-64 the CPU kernels are built again for AVX2+FMA and for AVX-512 and chosen at run time when the processor has them.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  ssm_op_sources(SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_avx2.cpp
                        ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_avx512.cpp)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512dq;-mavx512vl;-mavx512bw;-mfma;-mprefer-vector-width=512;-fno-trapping-math")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-fno-trapping-math")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_kernel_default.cpp PROPERTIES
    COMPILE_DEFINITIONS SSM_CPU_AVX2=1)
endif()
