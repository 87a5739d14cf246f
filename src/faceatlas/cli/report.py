"""`faceatlas report`: a self-contained HTML report of the people found."""
