"""HTTP plumbing shared by our FastAPI apps: problem details, bearer tokens, body limits."""

__all__: list[str] = []
