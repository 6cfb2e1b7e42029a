"""The Background panel: ROIs on the image, the fitted background and its preview."""
