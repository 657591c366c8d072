ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp ${CMAKE_CURRENT_LIST_DIR}/conv_cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fft_conv.cpp ${CMAKE_CURRENT_LIST_DIR}/fft_conv_cpu.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/fft_conv_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/fft_conv/fft_conv.cu)
