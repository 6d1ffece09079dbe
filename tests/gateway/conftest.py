from support.gateway_fleet import gateway  # noqa: F401 (the module-scoped fleet fixture)
from support.oidc import fresh_oidc, oidc, oidc_node_modules  # noqa: F401 (the OpenID provider)
