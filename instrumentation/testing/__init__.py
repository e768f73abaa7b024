"""Test, demo and benchmark helpers: real recorded provider exchanges and a local provider server."""
