"""Benchmarks (not part of the test run): `make bench`, or `make bench-smoke` for 5-second versions."""
