"""One module per scenario; each has `run(...) -> dict` and a command line printing that dict as JSON."""
