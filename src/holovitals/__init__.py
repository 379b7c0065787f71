"""HoloVitals Sync: keeps health records moving between systems."""

__version__ = "0.1.0"
