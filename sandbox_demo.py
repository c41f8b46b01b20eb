"""Demo data for the sandbox: contacts that exercise every branch of the calling policy,
a list holding all of them, and scripted Talkstack outcomes so a session shows variety.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from domain.phones import to_e164
from domain.quiet_hours import iana_name

DEMO_CACHE_KEY = "sandbox_demo"
DEMO_LIST_NAME = "Sandbox demo list"


@dataclass(frozen=True)
class DemoContact:
    firstname: str
    lastname: str
    company: str
    timezone: str  # HubSpot's hs_timezone spelling
    phone: str = ""
    mobilephone: str = ""
    do_not_call: bool = False
    # Final statuses of successive calls; the last one repeats. Empty: the simulator picks.
    outcomes: tuple[str, ...] = ()
    expect: str = ""

    def properties(self) -> dict[str, str]:
        values = {"firstname": self.firstname, "lastname": self.lastname,
                  "company": self.company, "hs_timezone": self.timezone,
                  "email": _ascii(f"{self.firstname}.{self.lastname}@example.com".lower()),
                  "phone": self.phone, "mobilephone": self.mobilephone}
        if self.do_not_call:
            values["talkstack_do_not_call"] = "true"
        return {name: value for name, value in values.items() if value}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


DEMO_CONTACTS = (
    DemoContact("Maya", "Okafor", "Brightline Logistics", "america_slash_los_angeles",
                phone="+1 415 555 0134", outcomes=("completed",), expect="answers"),
    DemoContact("Jonas", "Weber", "Nordwind GmbH", "europe_slash_berlin",
                phone="+49 30 901820", outcomes=("voicemail",), expect="voicemail"),
    DemoContact("Priya", "Raman", "Kestrel Analytics", "america_slash_new_york",
                phone="(212) 555-0199", outcomes=("busy", "completed"),
                expect="busy, then answers the follow-up"),
    DemoContact("Tomás", "Álvarez", "Solera Energy", "america_slash_chicago",
                phone="+1 312 555 0148", outcomes=("no-answer", "completed"),
                expect="no answer, then answers the follow-up"),
    DemoContact("Chloé", "Martin", "Atelier Lumière", "europe_slash_paris",
                phone="+33 1 23 45 67 89", outcomes=("completed",), expect="answers"),
    DemoContact("Kenji", "Sato", "Harbor Robotics", "asia_slash_tokyo",
                phone="+81 3-1234-5678", outcomes=("silence",), expect="picks up, says nothing"),
    DemoContact("Olivia", "Brown", "Eucalypt Health", "australia_slash_sydney",
                phone="+61 2 9876 5432", expect="random outcome"),
    DemoContact("Samuel", "Osei", "Greenfield Farms", "america_slash_denver",
                phone="12345", mobilephone="+1 303 555 0172", outcomes=("completed",),
                expect="bad phone, called on mobile"),
    DemoContact("Lucas", "Silva", "Mar Azul Travel", "america_slash_los_angeles",
                phone="+1 650 253 0000", outcomes=("failed",), expect="call fails"),
    DemoContact("Hannah", "Fischer", "Alpenblick Hotels", "europe_slash_berlin",
                phone="not a number", expect="skipped: invalid_number"),
    DemoContact("Noah", "Williams", "Copperleaf Finance", "europe_slash_london",
                expect="skipped: no_number"),
    DemoContact("Emma", "Johansson", "Fjord Media", "europe_slash_london",
                phone="+1 202 555 0111", do_not_call=True, expect="skipped: opted_out"),
)


def script_outcomes(talkstack_sim, contact: DemoContact, region: str) -> None:
    number = to_e164(contact.phone, region) or to_e164(contact.mobilephone, region)
    if not number or not contact.outcomes:
        return
    *once, standing = contact.outcomes
    for status in once:
        talkstack_sim.script_outcome(number, status, repeat=False)
    talkstack_sim.script_outcome(number, standing, repeat=True)


def seed_demo(hubspot_sim, talkstack_sim, *, region: str = "US") -> dict:
    """Add the demo contacts and list to the simulators; returns what the console shows."""
    ids = hubspot_sim.add_contacts([c.properties() for c in DEMO_CONTACTS])
    list_id = hubspot_sim.add_list(ids, name=DEMO_LIST_NAME)
    for contact in DEMO_CONTACTS:
        script_outcomes(talkstack_sim, contact, region)
    return {
        "listId": list_id,
        "listName": DEMO_LIST_NAME,
        "contacts": [
            {"id": contact_id, "name": f"{c.firstname} {c.lastname}", "company": c.company,
             "phone": c.phone or c.mobilephone, "timezone": iana_name(c.timezone) or c.timezone,
             "expect": c.expect}
            for contact_id, c in zip(ids, DEMO_CONTACTS, strict=True)
        ],
    }
