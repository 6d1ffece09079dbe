from support.gateway_fleet import gateway  # noqa: F401 (the module-scoped fleet fixture)
