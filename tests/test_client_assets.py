"""The browser client's files as the server serves them (the browser tests drive the client)."""


async def test_page_and_assets_are_served_with_a_strict_policy_and_revalidated(client):
    page = await client.get("/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    html = await page.text()
    assert "<script" in html and "http://" not in html and "https://" not in html
    script = await client.get("/static/js/main.js")
    assert script.status == 200 and script.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/static/../settings/settings.toml")).status in (403, 404)


async def test_deep_links_to_a_conversation_serve_the_client(client):
    page = await client.get("/c/12")
    assert page.status == 200 and "Content-Security-Policy" in page.headers
    assert '<script type="module" src="/static/js/main.js">' in await page.text()
    assert (await client.get("/c/not-an-id")).status == 404
