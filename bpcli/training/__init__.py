"""Models, optimisers and the training loop (the library's entry point is bpcli.train, in bpcli.api)."""
