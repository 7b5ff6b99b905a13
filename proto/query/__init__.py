"""The original system's query API (proto package `query`), kept wire-compatible."""
