"""Every module here is imported by the runner; each registers benchmarks with @benchmark."""
