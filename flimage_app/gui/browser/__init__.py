"""The series browser: frame list, image view, frame reading and the Metadata panel."""
