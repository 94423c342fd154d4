"""SQL plumbing shared by the services' stores (engines only; each service owns its tables)."""

__all__: list[str] = []
