"""Reporting: result files, their aggregation into tables and plots, and the comparison with
reference numbers."""
