"""`pytest verify/`: property-based cross-checks Python vs OCaml vs TA-Lib (docs/design.md §3)."""
