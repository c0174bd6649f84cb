"""Models, optimisers and the training loop."""
