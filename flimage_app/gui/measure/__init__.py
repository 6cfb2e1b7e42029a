"""The Measure panel: measurement ROIs, per-ROI traces over time, their table and export."""
