ssm_op_sources(
  CASES ${CMAKE_CURRENT_LIST_DIR}/cases.cpp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/diag_scan.cpp ${CMAKE_CURRENT_LIST_DIR}/diag_scan_cpu.cpp
  CUDA_SOURCES ${CMAKE_CURRENT_LIST_DIR}/diag_scan_cuda.cpp
  KERNELS ${PROJECT_SOURCE_DIR}/cuda/diag_scan/diag_scan.cu)
