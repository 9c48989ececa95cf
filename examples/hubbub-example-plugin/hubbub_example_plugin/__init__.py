"""An example Hubbub plugin: reactions and a profanity hook."""
