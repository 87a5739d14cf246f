"""`faceatlas search` and `faceatlas serve`: look-alike search from the CLI and the web (issue 5)."""
