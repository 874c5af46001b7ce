"""Benchmarks with their floors: ``python -m bench`` (``make bench``). See bench/README.md."""
