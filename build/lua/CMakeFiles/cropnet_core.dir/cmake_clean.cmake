file(REMOVE_RECURSE
  "cropnet/core.pdb"
  "cropnet/core.so"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cropnet_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
