"""What makes a network spike: LIF neurons, surrogate derivatives, input encoders, the LIF scan and its fused Triton kernels."""
