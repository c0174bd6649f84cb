"""Text to graph and back: the only user of Lark."""
