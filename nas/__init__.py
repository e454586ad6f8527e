"""The search: strategies, objectives and constraints, the Ray runner, export, the CLI."""
