"""All SQL of the server. Query functions take an `AsyncConnection`, so the caller decides
what one transaction holds."""
