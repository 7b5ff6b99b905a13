"""Simulator mode: traffic through a road network, captures, and the demo."""
