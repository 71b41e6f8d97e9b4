# Empty compiler generated dependencies file for cropnet_cli.
# This may be replaced when dependencies are built.
