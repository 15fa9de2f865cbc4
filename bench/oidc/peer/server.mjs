// The peer of bench/oidc.sh: node-oidc-provider (panva/node-oidc-provider, the certified Node
// provider) issuing ES256 JWT access tokens (RFC 9068) to one client-credentials client, as a
// production deployment would configure it: NODE_ENV=production, one process, its default
// in-memory adapter (JWT access tokens are not stored). Usage: node server.mjs PORT SECRET
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const [port, secret] = process.argv.slice(2);
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench',
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [jwk] },
  scopes: ['api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:orgid:bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => console.log(`peer listening on ${port}`));
