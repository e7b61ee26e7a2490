"""recft: recursive embedding fine-tuning with a statistical promotion gate."""

__version__ = "0.1.0"
