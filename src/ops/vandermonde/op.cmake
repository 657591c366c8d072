ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/vandermonde.cpp ${CMAKE_CURRENT_LIST_DIR}/vandermonde_cpu.cpp
          ${CMAKE_CURRENT_LIST_DIR}/cpu/vandermonde_kernel_default.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/vandermonde_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/vandermonde/vandermonde.cu)
# On x86-64 the CPU kernels are built a second time for AVX2+FMA and chosen at run time when the processor has them.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  ssm_op_sources(SOURCES ${CMAKE_CURRENT_LIST_DIR}/cpu/vandermonde_kernel_avx2.cpp)
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/vandermonde_kernel_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma")
  # The default build's kernel table then offers the AVX2 one.
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu/vandermonde_kernel_default.cpp PROPERTIES
    COMPILE_DEFINITIONS SSM_CPU_AVX2=1)
endif()
