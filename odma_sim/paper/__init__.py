"""Reproducing the ODMA paper: calibration, the experiment runs, figures and the table."""
