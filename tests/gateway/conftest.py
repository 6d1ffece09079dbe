from support.gateway_fleet import gateway  # noqa: F401 (the module-scoped fleet fixture)
from support.oidc import fresh_oidc, oidc, oidc_node_modules  # noqa: F401 (the OpenID provider)
from support.redis_server import fresh_redis, redis_server  # noqa: F401 (a real Redis server)
