"""REST views: read the request, call a service, answer in the envelope."""
