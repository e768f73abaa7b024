"""The bill, reconciled: provider usage and cost reports pulled into tables of their own (pull.py, one adapter per
provider endpoint in adapters.py) and compared with the stored calls (reconcile.py)."""
