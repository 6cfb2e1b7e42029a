"""The Bleach-correction panel: method, fit, curves, preview and the corrected series."""
