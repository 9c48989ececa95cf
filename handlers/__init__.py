"""Handlers of socket frame types, and the services (rules) they share with the REST views.

The public API for handler authors, built-ins and plugins alike: `Handler`, `Context`,
`Reply` and the errors of `handlers.errors`."""
