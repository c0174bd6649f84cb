"""Second opinions: SymPy, finite differences, hazards, lint."""
