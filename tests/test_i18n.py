"""The family's language: the catalogues are complete and up to date with the sources, every
translation keeps its placeholders and markup, a page's language is chosen as documented
(the page's choice, the therapist's setting, the browser's), and the parent's consent page
says everything, its faults too, in Welsh and in Arabic, right to left."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import get_args

import jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from server import i18n
from server.appkeys import ACCOUNTS, CATALOGUE, CLIENTS, CONSENTS, PRACTICE
from server.care.checklists import Kind
from server.care.clients import Language
from server.i18n_extract import extract
from server.live.protocol import Join
from server.storage.models import Role
from tests.client import ProtocolPeer
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import join_message, new_client, therapist_view
from tests.pagetext import Page
from tests.scenes import Room

TRANSLATED = [lang for lang in i18n.SUPPORTED if lang != i18n.DEFAULT]
# what must come through a translation unchanged: %(name)s, {name}, and markup
_KEPT = re.compile(r"%\(\w+\)s|\{\w+\}|</?\w+[^>]*>")


@cache
def _po(path: str) -> Catalog:
    with (i18n.LOCALES / path).open("rb") as po:
        return read_po(po)


def _ids(catalog: Catalog) -> set[str]:
    return {str(m.id) for m in catalog if m.id}


@pytest.mark.hazard("HZ-31")
def test_the_template_holds_every_message_of_the_sources_and_no_other() -> None:
    """``messages.pot`` is what ``make messages`` would write now: a message added to a
    family page (or changed) and not gathered would show in English without any test
    noticing."""
    now = _ids(extract())
    kept = _ids(_po("messages.pot"))
    assert not now - kept, f"not in messages.pot (run make messages): {sorted(now - kept)}"
    assert not kept - now, f"in messages.pot but in no source: {sorted(kept - now)}"


@pytest.mark.hazard("HZ-31")
@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_has_a_translation(lang: str) -> None:
    catalog = _po(f"{lang}/LC_MESSAGES/messages.po")
    strings = {str(m.id): m for m in catalog if m.id}
    missing = sorted(_ids(_po("messages.pot")) - set(strings))
    empty = sorted(k for k, m in strings.items() if not str(m.string).strip() or m.fuzzy)
    assert not missing, f"{lang}: not in the catalogue (run make messages): {missing}"
    assert not empty, f"{lang}: untranslated or fuzzy: {empty}"


@pytest.mark.hazard("HZ-31")
@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_translation_keeps_its_placeholders_and_markup(lang: str) -> None:
    wrong = [
        (m.id, m.string)
        for m in _po(f"{lang}/LC_MESSAGES/messages.po")
        if m.id and sorted(_KEPT.findall(str(m.id))) != sorted(_KEPT.findall(str(m.string)))
    ]
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("header", "client", "chosen", "expected"),
    [
        (None, None, None, "en"),
        ("", None, None, "en"),
        ("cy-GB,cy;q=0.9,en;q=0.8", None, None, "cy"),
        ("en-GB,en;q=0.9,ar;q=0.8", None, None, "en"),
        ("fr-FR,ar-EG;q=0.7,cy;q=0.5", None, None, "ar"),  # the first of ours, by weight
        ("en;q=0.2, cy;q=0.8", None, None, "cy"),  # the weight, not the order, decides
        ("ar;q=0, en;q=0.1", None, None, "en"),  # q=0: not wanted at all
        ("cy;q=banana, ar", None, None, "ar"),  # a malformed weight: that tag is left out
        ("de, fr", None, None, "en"),  # none of ours: English
        ("cy", "ar", None, "ar"),  # the therapist's setting wins over the browser
        ("cy", "ar", "en", "en"),  # and the family's choice on the page over both
        ("cy", None, "xx", "cy"),  # a choice that is not ours is ignored
        ("cy", "xx", None, "cy"),
        ("," * 10_000 + "cy", None, None, "en"),  # read only so far
    ],
)
def test_the_language_of_a_family_page(
    header: str | None, client: str | None, chosen: str | None, expected: str
) -> None:
    assert i18n.negotiate(header, client, chosen) == expected


def test_translations_and_dates_for_other_code() -> None:
    """What other code (e-mails) calls: ``translations(lang)``, and ``using(lang)`` around
    a render or a ``gettext``."""
    assert i18n.translations("cy").gettext("Exit now") == "Gadael nawr"
    with i18n.using("ar"):
        assert i18n.gettext("Exit now") == "اخرج الآن"
        assert i18n.clock(datetime(2026, 12, 7, 16, 5)) == "16:05"
    assert i18n.gettext("Exit now") == "Exit now"
    with pytest.raises(ValueError):
        i18n.translations("fr")
    # an environment of its own (e-mails): the extension, the filters, the language
    env = jinja2.Environment(
        loader=jinja2.DictLoader(
            {"note.txt": "{% trans %}Exit now{% endtrans %} {{ when|clock24 }} {{ _('Chat') }}"}
        ),
        autoescape=jinja2.select_autoescape(default=True),
    )
    i18n.install(env)
    when = datetime(2026, 12, 7, 16, 5)
    assert i18n.render(env, "note.txt", "cy", when=when) == "Gadael nawr 16:05 Sgwrs"
    assert i18n.render(env, "note.txt", "en", when=when) == "Exit now 16:05 Chat"


@pytest.fixture
async def kid_and_url(
    app: web.Application, client: TestClient, therapist: Staff
) -> tuple[str, str]:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, display_name="Robin", age_band="9-11")
    issued = await app[CONSENTS].issue_link(kid.id, ther.id)
    return kid.id, f"/consent/{issued.token}"


def _lang(html: str) -> tuple[str, str]:
    root = Page(html).root.all("html")[0]
    return root.attrs["lang"], root.attrs["dir"]


@pytest.mark.hazard("HZ-31")
async def test_the_consent_page_in_welsh_and_in_arabic(
    app: web.Application, client: TestClient, kid_and_url: tuple[str, str]
) -> None:
    kid, url = kid_and_url
    welsh = await client.get(url, headers={"Accept-Language": "cy,en;q=0.5"})
    assert welsh.headers["Content-Language"] == "cy"
    page = Page(await welsh.text())
    assert _lang(await welsh.text()) == ("cy", "ltr")
    assert page.root.all("h1")[0].text == "Therapi ar-lein i Robin"
    assert "Cadarnhewch, os gwelwch yn dda" in page.root.text  # the consent form's own words
    # the switch: every language, each named in itself, this one marked
    switch = page.root.all("nav", class_="languages")[0]
    links = {a.attrs["lang"]: a for a in switch.all("a")}
    assert {tag: a.attrs["href"] for tag, a in links.items()} == {
        "en-GB": "?lang=en",
        "cy": "?lang=cy",
        "ar": "?lang=ar",
    }
    assert links["cy"].attrs.get("aria-current") == "true"
    # what the parent agrees to is one tap from its English, named in English
    english = [a for a in page.root.all("a") if a.attrs.get("href") == "?lang=en"]
    assert [a.attrs.get("lang") for a in english] == ["en-GB", "en-GB"]
    assert "Read this page in English" in [a.text for a in english]

    # the family's choice on the page wins over the browser, and stays with the form
    arabic = await (await client.get(url + "?lang=ar")).text()
    assert _lang(arabic) == ("ar", "rtl")
    assert Page(arabic).root.all("h1")[0].text == "العلاج عبر الإنترنت لـRobin"
    # a form sent without its answers: every fault in Arabic, beside its field
    sent = await client.post(url + "?lang=ar", data={"decision": "given", "email": "pat@"})
    assert sent.status == 400
    faulty = Page(await sent.text())
    summary = faulty["error-summary"].text
    assert "اكتب اسمك الكامل." in summary  # "Type your full name."
    assert "أجب بنعم أو لا:" in summary  # "Answer yes or no:", with the question in Arabic
    assert "Type your full name" not in summary
    assert (
        "اكتب عنوان بريدك الإلكتروني بهذا الشكل name@example.org" in summary
    )  # "Type your e-mail"
    assert "عنوان بريدك الإلكتروني (اختياري)" in faulty.root.text  # its label

    # answered: the record keeps the language of the page the parent read
    form = {"decision": "given", "typed_name": "Pat Parent", "relationship": "mam"}
    form |= {"contact1_name": "Pat Parent", "contact1_phone": "07700 900456"}
    form |= {"contact1_relationship": "mam"}
    for item in app[CATALOGUE][Kind.CONSENT].items():
        if item.answerable:
            form[f"confirm:{item.id}"] = "yes"
    done = await client.post(url + "?lang=ar", data=form)
    assert done.status == 200, await done.text()
    assert "تم حفظ موافقتك" in await done.text()  # "Your consent ... saved"
    assert [c.language for c in await app[CONSENTS].history(kid)] == ["ar"]


@pytest.mark.hazard("HZ-31")
async def test_the_therapist_sets_the_familys_language(
    client: TestClient, therapist: Staff, kid_and_url: tuple[str, str]
) -> None:
    """Set on the client's page, it wins over the browser for the family's links; the family
    can still switch on the page; cleared, the browser's counts again."""
    kid, url = kid_and_url
    csrf = await sign_in(client, therapist)
    page = Page(await (await client.get(f"/clients/{kid}")).text())
    assert _lang(await (await client.get(f"/clients/{kid}")).text()) == ("en-GB", "ltr")
    assert "Their browser's language" in page["family-language"].text

    async def choose(language: str) -> None:
        resp = await client.post(
            f"/clients/{kid}/language",
            data={"language": language, "csrf_token": csrf},
            allow_redirects=False,
        )
        assert resp.status == 303, await resp.text()

    welsh_browser = {"Accept-Language": "cy"}
    await choose("ar")
    assert _lang(await (await client.get(url, headers=welsh_browser)).text()) == ("ar", "rtl")
    chosen = await client.get(url + "?lang=cy", headers=welsh_browser)
    assert _lang(await chosen.text()) == ("cy", "ltr")
    # sealed at rest, and opened in the family's subject-access export
    export = json.loads(await (await client.get(f"/clients/{kid}/export")).text())
    assert [row["language"] for row in export["tables"]["clients"]] == ["ar"]
    await choose("")
    assert _lang(await (await client.get(url, headers=welsh_browser)).text()) == ("cy", "ltr")
    bad = await client.post(f"/clients/{kid}/language", data={"language": "xx", "csrf_token": csrf})
    assert bad.status == 400


@pytest.mark.hazard("HZ-31")
async def test_the_practice_page_in_the_familys_language(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """The practice page is chosen as the join page is: the client's language (set by the
    therapist) before the browser's, the switch on the page before both; in Arabic, right to
    left, its words and the agreement's in Arabic, and no English sentence left."""
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther, display_name="Robin")
    url = f"/practice/{(await app[PRACTICE].issue(ther, kid.id, 'parent')).token}"
    assert _lang(await (await client.get(url, headers={"Accept-Language": "cy"})).text()) == (
        "cy",
        "ltr",
    )
    await app[CLIENTS].set_language(ther, kid.id, Language(language="ar"))
    resp = await client.get(url, headers={"Accept-Language": "cy"})
    html = await resp.text()
    assert resp.status == 200 and resp.headers["Content-Language"] == "ar"
    assert _lang(html) == ("ar", "rtl")
    page = Page(html)
    assert page.root.all("h1")[0].text == "تدرّب قبل جلستك"  # "Practise before your session"
    assert page["devices-heading"].text == "1. تحقق من الكاميرا والميكروفون"
    assert page["device-start"].text == "ابدأ التحقق"  # "Start the check"
    assert "هذه صفحة للتدريب، وليست جلستك." in page.root.text  # "..., not your session."
    contract = app[CATALOGUE][Kind.CONTRACT]
    assert i18n.translations("ar").gettext(contract.title) in page["agreement-heading"].text
    assert 'lang="cy"' in html and "?lang=en" in html  # the switch, as on other family pages
    for english in ("Practise before", "not your session", "What each button does", "Rubber"):
        assert english not in html
    welsh = Page(await (await client.get(url + "?lang=cy")).text())
    assert welsh.root.all("h1")[0].text == "Ymarfer cyn dy sesiwn"


@pytest.mark.hazard("HZ-31")
async def test_a_link_that_does_not_work_says_so_in_the_familys_language(
    client: TestClient,
) -> None:
    """The page of a damaged link, the server's own words on it included."""
    resp = await client.get("/join/not-a-link", headers={"Accept-Language": "ar, en;q=0.5"})
    html = await resp.text()
    assert resp.status == 403
    assert _lang(html) == ("ar", "rtl")
    page = Page(html)
    assert page.root.all("h1")[0].text == "هذا الرابط لا يعمل"
    assert "هذا الرابط غير صالح. يرجى طلب رابط جديد." in page.root.text  # the TokenError's


def test_a_join_names_only_our_languages() -> None:
    assert get_args(Join.model_fields["lang"].annotation) == i18n.SUPPORTED


@pytest.mark.hazard("HZ-31", "HZ-13")
async def test_an_observer_is_announced_in_the_language_of_each_page(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    """The young person's page joined in Welsh: they are told in Welsh that a supervisor is
    watching, and of their microphone; the therapist, in English."""
    browser = await aiohttp_client(client.server)  # a fresh browser: no cookies
    young = ProtocolPeer(await browser.ws_connect("/ws"))
    await young.send({**join_message(room.token), "lang": "cy"})
    joined = await young.expect("joined")
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    staff = await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "therapist.one")
    supervisor = await aiohttp_client(client.server)
    await sign_in(supervisor, staff)
    sup = ProtocolPeer(await supervisor.ws_connect("/ws"), media=False)
    await sup.send({"type": "observe", "session": room.session})
    await sup.expect("admitted")
    told = await young.expect("notice", code="observer")
    assert told["message"] == (
        "Mae Sup (goruchwyliwr) yn gwylio'r sesiwn hon. Mae ei gamera a'i feicroffon i ffwrdd."
    )
    therapist = await room.therapist.expect("notice", code="observer")
    assert therapist["message"].startswith("Sup (supervisor) is observing this session.")
    await sup.send({"type": "observer_media", "audio": True, "video": False})
    told = await young.expect("notice", code="observer", within=5)
    assert told["message"] == "Mae Sup (goruchwyliwr) wedi troi ei feicroffon ymlaen."
    for peer in (young, sup, room.therapist):
        await peer.close()
