"""The environment-variable prefix of every llmsight setting, the app side's and the collector's alike. A module
of its own, importing nothing: checking for LLMSIGHT_* variables must not import pydantic."""

ENV_PREFIX = "LLMSIGHT_"
