"""llmsight collector: OTLP in, normalised and priced rows in ClickHouse out.

Needs the `collector` extra: `pip install 'llmsight[collector]'`.
"""
