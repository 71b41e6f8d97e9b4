file(REMOVE_RECURSE
  "CMakeFiles/cropnet.dir/activation.c.o"
  "CMakeFiles/cropnet.dir/activation.c.o.d"
  "CMakeFiles/cropnet.dir/error.c.o"
  "CMakeFiles/cropnet.dir/error.c.o.d"
  "CMakeFiles/cropnet.dir/gemm.c.o"
  "CMakeFiles/cropnet.dir/gemm.c.o.d"
  "CMakeFiles/cropnet.dir/init.c.o"
  "CMakeFiles/cropnet.dir/init.c.o.d"
  "CMakeFiles/cropnet.dir/layer.c.o"
  "CMakeFiles/cropnet.dir/layer.c.o.d"
  "CMakeFiles/cropnet.dir/linear.c.o"
  "CMakeFiles/cropnet.dir/linear.c.o.d"
  "CMakeFiles/cropnet.dir/loss.c.o"
  "CMakeFiles/cropnet.dir/loss.c.o.d"
  "CMakeFiles/cropnet.dir/optim.c.o"
  "CMakeFiles/cropnet.dir/optim.c.o.d"
  "CMakeFiles/cropnet.dir/rng.c.o"
  "CMakeFiles/cropnet.dir/rng.c.o.d"
  "CMakeFiles/cropnet.dir/sequential.c.o"
  "CMakeFiles/cropnet.dir/sequential.c.o.d"
  "CMakeFiles/cropnet.dir/tensor.c.o"
  "CMakeFiles/cropnet.dir/tensor.c.o.d"
  "CMakeFiles/cropnet.dir/train.c.o"
  "CMakeFiles/cropnet.dir/train.c.o.d"
  "libcropnet.a"
  "libcropnet.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cropnet.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
