"""Alert rules: one source of truth, compiled to Grafana provisioning and evaluated by the collector."""
