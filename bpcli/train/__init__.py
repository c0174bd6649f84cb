"""Models, optimisers and the training loop. Called, this package is the library's train
(bpcli.api.train): `from bpcli import train; train("linear", "data.csv", lr=0.01)`."""
