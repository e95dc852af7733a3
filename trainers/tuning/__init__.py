"""Recipes (the validated defaults of every run), their table, and the search that produces them."""
