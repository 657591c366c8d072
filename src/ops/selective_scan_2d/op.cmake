ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/selective_scan_2d.cpp ${CMAKE_CURRENT_LIST_DIR}/selective_scan_2d_cpu.cpp
          ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_default.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/selective_scan_2d_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/selective_scan_2d/selective_scan_2d.cu)
# -fno-trapping-math: see src/ops/selective_scan/op.cmake (what lets GCC vectorize vexp's selects).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_default.cpp PROPERTIES
  COMPILE_OPTIONS "-fno-trapping-math")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  ssm_op_sources(SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_avx2.cpp
                        ${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_avx512.cpp)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx512dq;-mavx512vl;-mavx512bw;-mfma;-mprefer-vector-width=512;-fno-trapping-math")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-fno-trapping-math")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/selective_scan_2d_kernel_default.cpp PROPERTIES
    COMPILE_DEFINITIONS SSM_CPU_AVX2=1)
endif()
