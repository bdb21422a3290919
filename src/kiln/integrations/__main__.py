"""``python3 -m kiln.integrations <platform>``: works before the umbrella ``kiln`` command registers it."""

from kiln.integrations.cli import integration

integration(prog_name="kiln integration")
