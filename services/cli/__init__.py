"""The ``tellusonce`` command line: run the parts, talk to the API, check, benchmark."""

__all__: list[str] = []
