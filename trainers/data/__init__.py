"""Datasets and the file formats they come in (IDX, CIFAR-10 batches): images in, tensors out."""
