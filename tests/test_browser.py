"""A frontend on its own origin logs in through the generated TypeScript client in a real browser
(Debian's Chromium driven by Playwright): CSRF token, a wrong password's problem, login, me, a
staff call, logout, me again 401; a page on an origin that is not allowed is refused by CORS."""

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import ARTIFACTS, PROJECT_DIR, STAFF_PASSWORD, TYPESCRIPT_DIR, free_port, live_server, npm

BUILD = TYPESCRIPT_DIR / "build"
SCREENSHOT = PROJECT_DIR / ".test-output" / "browser" / "login-flow.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is missing for the browser test: apt-get install chromium", pytrace=False)
    return path


@pytest.fixture(scope="module")
def page_port(node_tools):
    """The login page, bundled with esbuild, served on its own port (its origin is the host name
    the browser uses: http://localhost:<port> or http://127.0.0.1:<port>)."""
    bundled = npm("run", "bundle")
    assert bundled.returncode == 0, bundled.stderr
    shutil.copy(TYPESCRIPT_DIR / "login-page.html", BUILD / "login-page.html")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(Quiet, directory=str(BUILD)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("browser-staff", password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def api_for_frontend(test_database_env, page_port):
    """The API on http://localhost:<port>, allowing the page's origin http://localhost:<page port>."""
    frontend = f"http://localhost:{page_port}"
    with live_server(
        {**test_database_env, "CORS_ORIGINS": frontend, "CSRF_TRUSTED_ORIGINS": frontend}, "localhost"
    ) as url:
        yield url


def test_a_frontend_on_another_origin_logs_in_and_out(chromium, page_port, api_for_frontend, staff):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page()
            page.goto(f"http://localhost:{page_port}/login-page.html?api={api_for_frontend}")
            steps = page.evaluate("([user, password]) => logInAndOut(user, password)", [staff.username, STAFF_PASSWORD])
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
            shown = page.inner_text("#steps")

            refused = browser.new_page()  # the same page from an origin the API does not allow
            refused.goto(f"http://127.0.0.1:{page_port}/login-page.html?api={api_for_frontend}")
            cross_origin = refused.evaluate("() => fetchToken()")
        finally:
            browser.close()
    ARTIFACTS.append(SCREENSHOT)  # printed at the end of the run

    assert [(step["step"], step["status"]) for step in steps] == [
        ("csrf", 200),
        ("wrong password", 401),
        ("login", 200),
        ("me", 200),
        ("database test", 200),
        ("logout", 204),
        ("me after logout", 401),
    ], steps
    details = {step["step"]: step["detail"] for step in steps}
    assert details["wrong password"] == "/problems/invalid-credentials - The username or password is wrong"
    assert "The username or password is wrong" in shown  # the problem's detail, shown on the page
    assert details["me"] == "browser-staff (staff: true)"
    assert details["database test"] == "ok: true"
    assert details["me after logout"].startswith("/problems/unauthenticated")
    assert cross_origin.startswith("refused: TypeError"), cross_origin
