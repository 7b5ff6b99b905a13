"""Detector hardware profiles and sniffer-board settings, shipped as data with the package."""
