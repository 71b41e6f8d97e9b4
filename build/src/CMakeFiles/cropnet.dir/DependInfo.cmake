
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/activation.c" "src/CMakeFiles/cropnet.dir/activation.c.o" "gcc" "src/CMakeFiles/cropnet.dir/activation.c.o.d"
  "/work/main/src/error.c" "src/CMakeFiles/cropnet.dir/error.c.o" "gcc" "src/CMakeFiles/cropnet.dir/error.c.o.d"
  "/work/main/src/gemm.c" "src/CMakeFiles/cropnet.dir/gemm.c.o" "gcc" "src/CMakeFiles/cropnet.dir/gemm.c.o.d"
  "/work/main/src/init.c" "src/CMakeFiles/cropnet.dir/init.c.o" "gcc" "src/CMakeFiles/cropnet.dir/init.c.o.d"
  "/work/main/src/layer.c" "src/CMakeFiles/cropnet.dir/layer.c.o" "gcc" "src/CMakeFiles/cropnet.dir/layer.c.o.d"
  "/work/main/src/linear.c" "src/CMakeFiles/cropnet.dir/linear.c.o" "gcc" "src/CMakeFiles/cropnet.dir/linear.c.o.d"
  "/work/main/src/loss.c" "src/CMakeFiles/cropnet.dir/loss.c.o" "gcc" "src/CMakeFiles/cropnet.dir/loss.c.o.d"
  "/work/main/src/optim.c" "src/CMakeFiles/cropnet.dir/optim.c.o" "gcc" "src/CMakeFiles/cropnet.dir/optim.c.o.d"
  "/work/main/src/rng.c" "src/CMakeFiles/cropnet.dir/rng.c.o" "gcc" "src/CMakeFiles/cropnet.dir/rng.c.o.d"
  "/work/main/src/sequential.c" "src/CMakeFiles/cropnet.dir/sequential.c.o" "gcc" "src/CMakeFiles/cropnet.dir/sequential.c.o.d"
  "/work/main/src/tensor.c" "src/CMakeFiles/cropnet.dir/tensor.c.o" "gcc" "src/CMakeFiles/cropnet.dir/tensor.c.o.d"
  "/work/main/src/train.c" "src/CMakeFiles/cropnet.dir/train.c.o" "gcc" "src/CMakeFiles/cropnet.dir/train.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
