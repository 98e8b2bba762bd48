"""Semantic search: a small embedding model inside the package, and vector search.

(Work in progress: the lead fills in this module's exports.)
"""
