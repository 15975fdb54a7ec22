"""Technique modules, one paper each (see refimpl.catalog)."""
