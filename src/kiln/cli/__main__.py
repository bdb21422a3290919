"""``python -m kiln.cli ...``: the ``kiln`` command without installed console scripts."""

from kiln.cli.main import kiln

kiln(prog_name="kiln")
