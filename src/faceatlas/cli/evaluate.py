"""`faceatlas eval`: clustering quality against known labels (issue 4)."""
