"""Table construction: IJG, Annex K, sensitivity, LSQ (the lead fills this at merge)."""
