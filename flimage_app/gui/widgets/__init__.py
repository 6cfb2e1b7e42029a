"""Widgets shared by the panels: dialogs, panel pages, the welcome page, ROI drawing."""
