"""Pieces every app uses and that depend on no app: the bottom layer (docs/architecture.md, "Layers")."""
