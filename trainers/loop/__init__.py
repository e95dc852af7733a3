"""Training: the epoch loop, one step per rule, optimisers, several processes, interrupts, evaluation, memory checks."""
