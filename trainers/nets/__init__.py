"""The networks rules train: one base class (named blocks, feedback, rule), the CNN/MLP, the spiking networks, `build_model`."""
