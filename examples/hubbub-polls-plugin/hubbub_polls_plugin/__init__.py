"""An example Hubbub plugin: polls on messages."""
