"""Engines run the faces step over many images: local processes today, Ray for clusters."""
