"""The original system's collector API (proto package `collector`), kept wire-compatible."""
