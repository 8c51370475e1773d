"""Python client of the OCaml indicator server, and shadow mode."""
