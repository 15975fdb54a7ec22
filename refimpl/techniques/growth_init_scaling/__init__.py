"""Growth, initialization and width/depth scaling: parametrizations (standard, NTK, μP), coordinate
checks, learning-rate transfer across widths, and operators that grow a trained network."""
