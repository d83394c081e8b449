// A real browser clicks through the operators' console: Debian's chromium, driven by
// playwright-core. With JavaScript: signs in with the admin token, adds a tenant, adds an identity
// provider by uploading a certificate file (first a broken one, whose message it records), adds
// an application allowed the JWT bearer grant (reading the client id and the secret shown once,
// and whether the copy button appeared), exchanges an assertion at the token endpoint with them
// (fetch, as any client), reloads the plugins, and opens the tenant's overview with its chart.
// Without JavaScript: signs in and adds a user. Saves a screenshot of each step in the screenshot
// directory, and prints what it saw as one JSON object; the test asserts on it.
//
// Arguments: chromium console_url admin_token good_cert bad_cert screenshot_dir issuer alias
//            grant_type token_endpoint assertion

import { chromium } from 'playwright-core';

const [chromiumPath, consoleUrl, adminToken, goodCert, badCert, shots, issuer, alias, grantType,
  tokenEndpoint, assertion] = process.argv.slice(2);

const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
const results = { browser: browser.version() };

// A new page of `context` and the list of what the browser refused or failed to run on it (a
// Content Security Policy violation is a console error). A refused form is answered 400 with the
// form and its message, which the browser reports too: that one is the console's design.
async function watchedPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const problems = [];
  page.on('console', (m) => {
    const refusedForm = m.text() === 'Failed to load resource: the server responded with a status of 400 (Bad Request)';
    if (m.type() === 'error' && !refusedForm && !m.location().url.endsWith('/favicon.ico')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { page, problems };
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function signIn(page) {
  await page.goto(`${consoleUrl}/tenants`);
  results.signInTitle = results.signInTitle ?? await page.locator('h1').textContent();
  await page.fill('#token', adminToken);
  await Promise.all([page.waitForURL(`${consoleUrl}/tenants`), page.click('button[type=submit]')]);
}

async function steps(page, problems, what, run) {
  try {
    return await run();
  } catch (error) {
    throw new Error(`${what}: ${error.message}\nthe page: ${page.url()}\nthe browser said: ${problems.join('\n')}`);
  }
}

// With JavaScript.
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, problems } = await watchedPage(context);
  await steps(page, problems, 'with JavaScript', async () => {
    await page.goto(`${consoleUrl}/tenants`);
    await shot(page, '01-sign-in');
    await signIn(page);
    await page.fill('#domain', 'acme.example');
    await page.fill('#name', 'Acme');
    await page.click('text=Add the tenant');
    results.tenantAdded = (await page.locator('.notice').textContent()).trim();
    await shot(page, '02-tenant-added');

    await page.click('nav.tabs >> text=Identity providers');
    await page.click('text=Add an identity provider');
    await page.fill('#name', 'corp');
    await page.fill('#issuer', issuer);
    await page.fill('#aliases', alias);
    await page.setInputFiles('#certificate_files', badCert);
    await page.click('button[type=submit] >> text=Add the identity provider');
    results.badCertificate = (await page.locator('.error').textContent()).trim();
    await shot(page, '03-bad-certificate');
    // The form kept what was typed; a good file this time.
    await page.setInputFiles('#certificate_files', goodCert);
    await page.click('button[type=submit] >> text=Add the identity provider');
    results.idpAdded = (await page.locator('.notice').textContent()).trim();
    results.certificates = await page.locator('ul.certificates li').allTextContents();
    await shot(page, '04-identity-provider');

    await page.click('nav.tabs >> text=Applications');
    await page.fill('#name', 'web');
    await page.check(`input[name=grant_types][value="${grantType}"]`);
    await page.fill('#scopes', 'read');
    await page.click('text=Add the application');
    results.clientId = (await page.locator('#client-id').textContent()).trim();
    results.clientSecret = (await page.locator('#client-secret').textContent()).trim();
    results.copyButton = await page.locator('button.copy[data-copy=client-secret]').isVisible();
    await shot(page, '05-application-created');

    // The exchange, as a client would make it, with what the console created (a change is seen
    // by the token endpoint within the cache refresh interval: retried for a few seconds).
    const basic = Buffer.from(`${encodeURIComponent(results.clientId)}:${encodeURIComponent(results.clientSecret)}`).toString('base64');
    for (let attempt = 0; attempt < 50; attempt++) {
      const reply = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: grantType, assertion, scope: 'read' }),
      });
      results.exchange = { status: reply.status, body: await reply.json() };
      if (reply.status === 200 || results.exchange.body.error !== 'invalid_client') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await page.click('header.top >> text=Plugins');
    await page.click('text=Reload plugins');
    results.reload = (await page.locator('.notice').textContent()).trim();
    await shot(page, '06-plugins-reloaded');

    await page.goto(`${consoleUrl}/tenants/acme.example`);
    results.chart = await page.locator('figure.chart svg').count();
    await shot(page, '07-overview');
    await page.goto(`${consoleUrl}/audit`);
    results.auditActions = await page.locator('table.audit td:nth-child(6)').allTextContents();
    await shot(page, '08-audit-log');
    results.cookies = (await context.cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }));
  });
  results.problems = problems;
  await context.close();
}

// Without JavaScript: the forms work as they are.
{
  const context = await browser.newContext({ javaScriptEnabled: false });
  const { page, problems } = await watchedPage(context);
  await steps(page, problems, 'without JavaScript', async () => {
    await signIn(page);
    await page.goto(`${consoleUrl}/tenants/acme.example/users`);
    await page.fill('#username', 'bob');
    await page.fill('#password', 'bob-password-123');
    await page.fill('#password_again', 'bob-password-123');
    await page.fill('#claims', 'email=bob@acme.example');
    await page.click('text=Add the user');
    results.userAdded = (await page.locator('.notice').textContent()).trim();
    await shot(page, '09-user-added-without-javascript');
  });
  results.problemsWithoutJavaScript = problems;
  await context.close();
}

await browser.close();
console.log(JSON.stringify(results));
