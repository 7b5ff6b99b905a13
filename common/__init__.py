"""What agent and central share: root error, layered config, ids, files, time, CLI output."""

__version__ = "0.1.0"
