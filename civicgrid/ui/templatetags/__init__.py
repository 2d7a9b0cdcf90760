"""Template tags of the civicgrid pages."""
