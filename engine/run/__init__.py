"""Layer package: see docs/design.md."""
