file(REMOVE_RECURSE
  "CMakeFiles/cropnet_lua.dir/placeholder_core.c.o"
  "CMakeFiles/cropnet_lua.dir/placeholder_core.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cropnet_lua.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
