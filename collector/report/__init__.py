"""`llmsight report` and `llmsight demo`."""
