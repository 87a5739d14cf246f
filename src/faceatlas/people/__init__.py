"""Grouping faces into people: clustering methods and the step that stores their result."""
