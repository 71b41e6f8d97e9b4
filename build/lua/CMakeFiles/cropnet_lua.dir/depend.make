# Empty dependencies file for cropnet_lua.
# This may be replaced when dependencies are built.
