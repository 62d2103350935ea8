"""callctl: a call controller beside Asterisk that classifies, routes and rates calls."""

__version__ = "0.1.0"
