"""Schedules and sensors: what makes the graph run by itself."""
