"""kiln: build OCI/Docker images from Dockerfiles without a daemon."""

__version__ = "0.1.0"
