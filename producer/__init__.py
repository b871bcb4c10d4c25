"""cio-pipeline producer (placeholder; the public API is filled in below)."""
