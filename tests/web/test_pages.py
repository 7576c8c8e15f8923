"""The dashboard in headless chromium: sign-in, every page, charts, navigation, search.

Screenshots of every page go to the test's temporary folder; set ``CLM_SCREENS`` to a
folder to get a copy there as well (for people to look at).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import (
    ADMIN_KEY,
    ALL_CHARTS_DRAWN,
    PASSWORD,
    USER,
    Console,
    Served,
    shoot,
    sign_in,
)

# A demo world scored three times takes about 25 s to build, the browser a few seconds per test.
pytestmark = pytest.mark.slow

PAGES = ("Overview", "Categories", "Customers", "Automations", "Experiments", "Data")


def test_pages_need_sign_in_and_wrong_passwords_are_refused(
    served: Served, page: Any, tmp_path: Path
) -> None:
    page.goto(served.url + "/categories")
    assert "/login" in page.url and "next=%2Fcategories" in page.url
    shoot(page, tmp_path, "login")
    sign_in(page, served, password="not the password", path="/categories")
    assert "/login" in page.url
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    assert page.url == served.url + "/categories"  # back where the visitor wanted to go
    assert page.get_by_role("heading", name="Categories", exact=True).is_visible()


def test_every_page_loads_without_errors_and_draws_its_charts(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served)
    drawn = {}
    for name in PAGES:
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        page.wait_for_load_state("networkidle")
        page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
        assert page.get_by_role("heading", level=1).inner_text() == name
        current = page.get_by_role("link", name=name, exact=True)
        assert current.get_attribute("aria-current") == "page"
        drawn[name] = page.locator("[data-figure] svg.main-svg").count()
        shoot(page, tmp_path, name.lower())
    assert console.errors == []
    # Overview: funnel, R×F, segment bars, Sankey, history; Categories: four charts.
    assert page.locator("[data-figure]").count() == 0  # the Data page has no chart
    assert drawn["Overview"] >= 5 and drawn["Categories"] >= 4
    page.get_by_role("link", name="Overview").click()
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.get_by_text("Migration between the last two scoring runs").is_visible()
    assert page.locator(".sankey").count() == 1


def test_search_finds_a_customer_and_their_page_shows_the_story(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served)
    page.get_by_role("link", name="Customers").click()
    page.get_by_label("Customer id or email").fill("C-SEED")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_role("table", name="Search results")
    assert results.get_by_role("link", name=served.seed_customer).is_visible()
    shoot(page, tmp_path, "customers-search")
    page.get_by_label("Customer id or email").fill(served.seed_customer.lower() + "@example.com")
    page.get_by_role("button", name="Search").click()  # an exact email opens the customer
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/customers/" + served.seed_customer)
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    heading = page.get_by_role("heading", level=1).inner_text()
    assert served.seed_customer in heading and "Champions" in heading
    for section in (
        "Timeline",
        "Activity per category",
        "Next best categories",
        "Segment history",
        "Automations and why",
    ):
        assert page.get_by_role("heading", name=section).is_visible()
    assert page.get_by_text(
        "No automation has decided anything about this customer yet"
    ).is_visible()
    text = page.locator("main").inner_text()
    assert re.search(r"P\(alive\)\s*\d+\.\d %", text)
    total = sum(int(n) for n in re.findall(r"(?:visit|purchase|product_view) (\d+)", text))
    assert f"All {total} events" in text and total > 0
    assert page.locator("[data-figure] svg.main-svg").count() >= 3
    shoot(page, tmp_path, "customer")
    assert console.errors == []


def test_rising_interest_lists_customers_of_the_chosen_category(served: Served, page: Any) -> None:
    sign_in(page, served, path="/categories")
    page.get_by_label("Category", exact=True).select_option("beauty")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Rising interest in beauty").is_visible()
    rising = page.locator("#rising table")
    assert rising.get_by_role("link", name=served.seed_customer).count() == 1
    rising.get_by_role("link").first.click()
    assert "/customers/" in page.url


def test_unknown_customer_is_a_clear_404(served: Served, page: Any) -> None:
    sign_in(page, served, path="/customers/NO-SUCH-ID")
    assert page.get_by_role("alert").inner_text() == "no customer or visitor with id 'NO-SUCH-ID'"


def test_sign_out_ends_the_session(served: Served, page: Any) -> None:
    sign_in(page, served)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("networkidle")
    assert "/login" in page.url and page.get_by_text("You are signed out.").is_visible()
    page.goto(served.url + "/data")
    assert "/login" in page.url


def test_keyboard_first_tab_reaches_the_skip_link(served: Served, page: Any) -> None:
    sign_in(page, served)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_admin_key_opens_pages_and_a_wrong_key_is_refused(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        for path in ("/", "/categories", "/customers", "/automations", "/experiments", "/data"):
            ok = client.get(path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert ok.status_code == 200, path
            assert "Signed in as <strong>admin API key</strong>" in ok.text
        wrong = client.get("/", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        anonymous = client.get("/")
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=%2F"
        data = client.get("/data", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert "events per second" in data.text and "1,234.50" in data.text
        assert served.stats_calls


def test_login_posts_need_the_form_token_and_stay_on_the_site(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        forged = client.post("/login", data={"username": USER, "password": PASSWORD})
        assert forged.status_code == 400 and "session" not in forged.cookies
        form = client.get("/login?next=//evil.example/x")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        assert 'name="next" value="/"' in form.text  # an outside target is dropped
        done = client.post(
            "/login",
            data={
                "username": USER,
                "password": PASSWORD,
                "csrf": token.group(1),
                "next": "//evil.example/x",
            },
        )
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = done.headers["set-cookie"]
        assert "clm_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert client.get("/").status_code == 200


def test_plotly_is_served_locally_with_caching(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        page = client.get("/login")
        src = re.search(r'href="(/static/style\.css\?v=\w+)"', page.text)
        assert src is not None
        plotly = client.get("/static/plotly.min.js")
        assert plotly.status_code == 200 and "immutable" in plotly.headers["cache-control"]
        assert plotly.headers["content-encoding"] == "gzip" and len(plotly.content) > 3_000_000
        assert client.get("/static/../clm.toml").status_code == 404


def test_the_demo_programmes_before_a_run_are_drawn_and_say_to_run(served: Served) -> None:
    from clm.ingest.demo import programmes

    with httpx.Client(base_url=served.url) as client:
        page = client.get("/automations", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert page.status_code == 200
    seeds = sorted(
        p.stem for p in (Path(programmes.__file__).parent / "automations").glob("*.yaml")
    )
    assert len(seeds) == 7
    for name in seeds:
        assert f'id="auto-{name}"' in page.text and f"Steps of {name}" in page.text
    assert "No enrolments yet: run <code>clm run</code>" in page.text
