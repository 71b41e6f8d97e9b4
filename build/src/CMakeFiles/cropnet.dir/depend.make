# Empty dependencies file for cropnet.
# This may be replaced when dependencies are built.
