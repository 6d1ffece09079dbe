// A real OpenID provider for the tests (npm `oidc-provider`): machine-to-machine clients get
// RFC 9068 JWT access tokens for a resource (audience) through the client_credentials grant.
//
// usage: node oidc_provider.mjs CONFIG.json
//   CONFIG: { port: 0 | N, jwks: { keys: [private JWKs] }, scopes: [...],
//             clients: [{ client_id, client_secret, scope }],
//             resources: { "<audience>": { scope: "a b", alg: "RS256" } } }
// Prints "listening on <issuer>" once it serves; the issuer is http://127.0.0.1:<port>.
// NODE_PATH is the npm cache's node_modules (the package is resolved from there, not from here).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(path.join(process.env.NODE_PATH, 'noop.js'));
const { default: Provider, errors } = await import(
  pathToFileURL(require.resolve('oidc-provider')).href
);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// Listen first, so that port 0 works: the issuer URL needs the port the kernel picked.
const server = createServer();
server.listen(config.port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, providerConfiguration());
  server.on('request', provider.callback());
  console.log(`listening on ${issuer}`);
});

function providerConfiguration() {
  const audiences = Object.keys(config.resources);
  return {
    jwks: config.jwks,
    scopes: config.scopes,
    clients: config.clients.map((client) => ({
      ...client,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audiences[0],
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => resourceServer(resource),
      },
    },
  };
}

function resourceServer(resource) {
  const known = config.resources[resource];
  if (!known) throw new errors.InvalidTarget();
  return {
    scope: known.scope,
    audience: resource,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: known.alg ?? 'RS256' } },
  };
}

// The fixture stops it with SIGTERM: close at once (keep-alive sockets would hold it open).
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
