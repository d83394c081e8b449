// A real browser signs in through Grantor's pages: Debian's chromium, driven by playwright-core,
// clicks through the login and consent pages as a user would, for a relying party made with
// openid-client (discovery, the authorization URL with PKCE S256, state and nonce, the code
// exchange checking state, iss and the ID token). Three sign-ins: one with JavaScript; the same
// browser again with response_mode=form_post (signed in and consent remembered: no page shown,
// the form post page submits itself), then signed out on the logout page; one with JavaScript
// disabled. Prints what it saw (and the cookies the browser kept) as one JSON object; the test
// asserts on it. The issuer may be http or https.
//
// Arguments: chromium issuer client_id client_secret redirect_port user password user password

import http from 'node:http';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const [chromiumPath, issuer, clientId, clientSecret, redirectPort, ...users] = process.argv.slice(2);
const [firstUser, firstPassword, secondUser, secondPassword] = users;
const redirectUri = `http://127.0.0.1:${redirectPort}/cb`;

// The relying party's redirect URI: a listener that records what the browser brought to it.
const arrivals = [];
const rp = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    arrivals.push({ method: req.method, url: req.url, body });
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end('<!doctype html><title>Back at the application</title><p>Signed in.</p>');
  });
});
await new Promise((resolve) => rp.listen(Number(redirectPort), '127.0.0.1', resolve));

const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
  { execute: [client.allowInsecureRequests] });

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
// Over HTTPS the server's certificate is issued by the CA it made on first start, which node trusts
// (NODE_EXTRA_CA_CERTS) and the browser is told to accept.
const contextOptions = { ignoreHTTPSErrors: issuer.startsWith('https:') };
const results = { browser: browser.version(), runs: [] };

// A new page of `context`, and the list of what the browser refuses or fails to run on it (a
// Content Security Policy violation is a console error; the browser's own request for
// /favicon.ico is not the pages' doing).
async function watchedPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) {
      problems.push(message.text());
    }
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  return { page, problems };
}

// `steps` on `page`; a failure says where the page was and what the browser said.
async function explained(page, problems, steps) {
  try {
    return await steps();
  } catch (error) {
    throw new Error(`${error.message}\nthe page: ${page.url()}\nthe browser said: ${problems.join('\n')}`);
  }
}

// One sign-in in `context`: the login page and the consent page when `username` is given, then
// back at the redirect URI.
async function signIn(context, { username, password, responseMode }) {
  const { page, problems } = await watchedPage(context);
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  if (responseMode) params.response_mode = responseMode;
  const arrived = arrivals.length;
  const titles = [];
  await explained(page, problems, async () => {
    await page.goto(client.buildAuthorizationUrl(config, params).href);
    if (username) {
      titles.push(await page.title());
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      titles.push(await page.title());
      await page.getByRole('button', { name: 'Allow' }).click();
    }
    await page.waitForURL((url) => url.port === redirectPort && url.pathname === '/cb');
  });
  const arrival = arrivals[arrived];
  const formPost = responseMode === 'form_post';
  const response = Object.fromEntries(formPost
    ? new URLSearchParams(arrival.body)
    : new URL(page.url()).searchParams);
  // openid-client redeems the code, checking state, iss (RFC 9207) and the ID token (nonce,
  // aud, iss, times); a form post is handed to it as the request the listener received.
  const callback = formPost
    ? new Request(redirectUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: arrival.body,
    })
    : new URL(page.url());
  const grant = await client.authorizationCodeGrant(config, callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce });
  const tokens = { claims: grant.claims(), scope: grant.scope };
  await page.close();
  return { titles, state, nonce, method: arrival.method, response, tokens, problems };
}

// RP-Initiated Logout without an id_token_hint: the user is asked, clicks "Sign out", and is
// sent back to the post-logout redirect URI; then a prompt=none request finds no session.
async function signOut(context) {
  const { page, problems } = await watchedPage(context);
  const state = client.randomState();
  const postLogout = `http://127.0.0.1:${redirectPort}/bye`;
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  const seen = await explained(page, problems, async () => {
    await page.goto(client.buildEndSessionUrl(config,
      { post_logout_redirect_uri: postLogout, state }).href);
    const title = await page.title();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.port === redirectPort && url.pathname === '/bye');
    const back = Object.fromEntries(new URL(page.url()).searchParams);
    await page.goto(client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid', prompt: 'none', state: client.randomState(),
      code_challenge: challenge, code_challenge_method: 'S256',
    }).href);
    await page.waitForURL((url) => url.port === redirectPort && url.pathname === '/cb');
    const afterwards = new URL(page.url()).searchParams.get('error');
    return { title, state, back, afterwards };
  });
  await page.close();
  return { ...seen, problems };
}

try {
  const context = await browser.newContext(contextOptions);
  results.runs.push(await signIn(context, { username: firstUser, password: firstPassword }));
  results.cookies = (await context.cookies()).map(({ name, httpOnly, sameSite, secure }) =>
    ({ name, httpOnly, sameSite, secure }));
  results.runs.push(await signIn(context, { responseMode: 'form_post' }));
  results.logout = await signOut(context);
  await context.close();
  const noScript = await browser.newContext({ ...contextOptions, javaScriptEnabled: false });
  results.runs.push(await signIn(noScript, { username: secondUser, password: secondPassword }));
  await noScript.close();
} finally {
  await browser.close();
  rp.close();
}
console.log(JSON.stringify(results));
