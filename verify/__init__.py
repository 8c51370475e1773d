"""`pytest verify/`: property-based cross-checks Python vs OCaml vs TA-Lib (DESIGN.md §3)."""
