"""What every stage shares: profiles and their schema, the one error type and the CLI wrapper,
atomic writes, output guards, numeric precision and lazy registries. Imports nothing else of
the project."""
