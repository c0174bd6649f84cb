"""Exercises: quiz and worksheets."""
