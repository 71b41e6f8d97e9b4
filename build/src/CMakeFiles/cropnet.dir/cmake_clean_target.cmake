file(REMOVE_RECURSE
  "libcropnet.a"
)
