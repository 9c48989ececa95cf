"""Handlers of socket frame types, and the services (rules) they share with the REST views.

Plugins import only `handlers.api`, which re-exports what they may use (PLUGINS.md): the
handler API of `handlers.base`, the errors of `handlers.errors`, the hook types of
`handlers.hooks`, lifecycle events (`handlers.lifecycle`) and REST routes (`handlers.routes`).
Built-ins use the same classes."""
