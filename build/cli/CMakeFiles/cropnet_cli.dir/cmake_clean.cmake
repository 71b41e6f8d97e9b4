file(REMOVE_RECURSE
  "../cropnet"
  "../cropnet.pdb"
  "CMakeFiles/cropnet_cli.dir/main.c.o"
  "CMakeFiles/cropnet_cli.dir/main.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cropnet_cli.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
