# Empty compiler generated dependencies file for cropnet_core.
# This may be replaced when dependencies are built.
