"""An example Hubbub plugin: pinned messages and a profanity hook."""
