"""Numbers only: the op table, graph, tape, tensors, forward mode, values."""
