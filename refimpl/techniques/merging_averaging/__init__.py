"""Merging and averaging of trained weights: soups, Model Stock, weight matching, AdaMerging, ensembles."""
