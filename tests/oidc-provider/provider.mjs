// A real OpenID Connect provider (the npm package oidc-provider) for
// atlascope's sign-in tests. It is configured from the environment:
//
//   OP_PORT      the port to listen on (on localhost: the app runs on
//                127.0.0.1, so the two are different sites, as in production)
//   OP_REDIRECT  atlascope's callback URL, the one redirect URI of its client
//                (and its /login, where people return after signing out)
//   OP_SECRET    the client secret of the client `atlascope`
//   OP_USERS     JSON: { "alice": { "name": "…", "email": "…", "groups": ["…"] } }
//
// Each start signs with a new P-256 key (ES256), so a restart is a key
// rotation. (Not RSA: OpenSSL 3 now and then takes minutes to find RSA primes.)
// People sign in on a plain form at /interaction/:uid (any password), and
// the test drives the provider's state through /_test/users/:sub
// (POST JSON { "groups": [...], "disabled": true|false }): a disabled
// person is refused at sign-in with access_denied and has no account for
// refreshes, as a provider does once someone leaves.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT ?? 4010);
const issuer = `http://localhost:${port}`;
const users = JSON.parse(process.env.OP_USERS ?? '{}');
const redirect = process.env.OP_REDIRECT ?? 'http://127.0.0.1:8080/auth/oidc/callback';
const disabled = new Set();

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'ES256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'atlascope',
      client_secret: process.env.OP_SECRET ?? 'test-only-secret',
      redirect_uris: [redirect],
      post_logout_redirect_uris: [redirect.replace(/\/auth\/oidc\/callback$/, '/login')],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Like Keycloak: a refresh token whenever the client may refresh.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: { devInteractions: { enabled: false } },
  cookies: { keys: [randomUUID()] },
  async findAccount(_ctx, sub) {
    if (disabled.has(sub)) {
      return undefined;
    }
    const person = users[sub] ?? {};
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: person.name ?? sub,
          preferred_username: sub,
          email: person.email ?? `${sub}@example.test`,
          email_verified: true,
          groups: person.groups ?? [],
        };
      },
    };
  },
});

async function readBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) {
      throw new Error('body too large');
    }
  }
  return body;
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

provider.use(async (ctx, next) => {
  const interaction = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
  if (interaction && ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><title>Test provider: sign in</title></head><body>
<h1>Test provider</h1><p>Signing in to ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(details.uid)}">
<label for="login">Login</label> <input id="login" name="login" autocomplete="off">
<label for="password">Password</label> <input id="password" name="password" type="password">
<button id="submit" type="submit">Sign in</button></form></body></html>`;
    return;
  }
  if (interaction && ctx.method === 'POST') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const login = new URLSearchParams(await readBody(ctx.req)).get('login')?.trim() ?? '';
    let result;
    if (!login || disabled.has(login)) {
      result = { error: 'access_denied', error_description: 'This account is disabled' };
    } else {
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope ?? 'openid'));
      result = { login: { accountId: login }, consent: { grantId: await grant.save() } };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return;
  }
  const control = ctx.path.match(/^\/_test\/users\/([A-Za-z0-9._@-]+)$/);
  if (control && ctx.method === 'POST') {
    const sub = control[1];
    const change = JSON.parse((await readBody(ctx.req)) || '{}');
    users[sub] = { ...(users[sub] ?? {}), ...(change.groups ? { groups: change.groups } : {}) };
    if (change.disabled === true) disabled.add(sub);
    if (change.disabled === false) disabled.delete(sub);
    ctx.status = 204;
    return;
  }
  await next();
});

provider.listen(port, 'localhost', () => {
  console.log(`test OpenID provider listening at ${issuer}`);
});
