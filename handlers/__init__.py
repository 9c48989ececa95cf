"""Handlers of socket frame types, and the services (rules) they share with the REST views.

The public API for handler authors, built-ins and plugins alike (PLUGINS.md): `Handler`,
`Context` and `Reply` in `handlers.base`, the errors of `handlers.errors`, and the pre-send
hook types of `handlers.hooks`."""
