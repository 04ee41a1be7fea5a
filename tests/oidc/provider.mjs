// The OpenID provider of the single sign-on tests: panva's oidc-provider
// (OpenID Certified), not a mock of our own, with its development login
// form (any login name, any password) and consent form.
//
// Environment:
//   OIDC_CLIENTS   JSON array of client registrations (client_id,
//                  client_secret, redirect_uris, id_token_signed_response_alg...)
//   OIDC_ACCOUNTS  a JSON file: { "<login>": { claims } }, read at every
//                  sign-in, so a test can change a person's groups between two
//   OIDC_PORT      the port (default: any free one)
//
// Prints one line, `{"issuer": "http://localhost:PORT"}`, once it listens.
// The API client's access tokens are JWTs for the resource asked for
// (`resource`, RFC 8707; `https://api.rampart.test` by default: RFC 8707
// wants an absolute URI), with the person's groups, so rampart's
// `accept_bearer` can be tested.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.OIDC_CLIENTS ?? '[]');
const accountsFile = process.env.OIDC_ACCOUNTS;

function accounts() {
  return accountsFile ? JSON.parse(readFileSync(accountsFile, 'utf8')) : {};
}

const server = createServer();
await new Promise((resolve) => server.listen(Number(process.env.OIDC_PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://localhost:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(accounts()[id] ?? {}) };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'groups', 'amr'],
  },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The API client's tokens are for the API by default; rampart's own
      // sign-in client gets the provider's opaque token, which userinfo
      // takes.
      defaultResource: (ctx, client) => (client.clientId === 'api-client' ? 'https://api.rampart.test' : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'openid email profile',
        audience: resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // Groups in the access tokens too, as Keycloak and Entra ID put roles
  // and groups there.
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
    const groups = accounts()[token.accountId]?.groups;
    return groups ? { groups } : undefined;
  },
  enabledJWA: {
    // HS256 is advertised so that a client registered with it gets ID
    // tokens signed with its own secret: rampart must refuse them.
    idTokenSigningAlgValues: ['RS256', 'HS256'],
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});
provider.proxy = false;
server.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
