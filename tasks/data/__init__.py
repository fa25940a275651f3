"""Corpora (`corpora`: where text comes from) and their preparation (`prepare`: tokenised once, a
fixed held-out split, nested fine-tuning subsets)."""
