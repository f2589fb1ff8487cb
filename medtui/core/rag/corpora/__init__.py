"""Snippet sources that can fill an index."""
