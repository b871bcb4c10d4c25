"""cio-pipeline worker: everything that talks to Customer.io."""
