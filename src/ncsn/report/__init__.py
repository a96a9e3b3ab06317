"""The study report: tables (pandas), figures (matplotlib/seaborn) and one HTML page."""
