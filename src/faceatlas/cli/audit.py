"""`faceatlas audit`: find mislabeled, outlier and duplicate images in a labeled dataset."""
