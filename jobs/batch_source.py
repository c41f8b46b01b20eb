"""Where a batch's contacts come from: list memberships, a search, or explicit ids.

Each source is a stream of id pages; `id_chunks` re-cuts the stream into chunks of exactly
100 ids (the last may be shorter), so every HubSpot batch read is full: a 250-member page
would otherwise cost three reads (100 + 100 + 50) instead of two and a half.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MEMBERSHIP_PAGE = 250  # HubSpot's most list members per page
SEARCH_PAGE = 200  # HubSpot's most search results per page
READ_CHUNK = 100  # HubSpot's most ids per contacts batch read
# A search is only used to find ids: properties come from a batch read, because the search
# index lags by seconds and a stale `talkstack_do_not_call` must never let a call through.
SEARCH_ID_PROPERTIES = ["hs_object_id"]

SOURCE_KINDS = ("listId", "contactIds", "filter")


def source_kind(source: dict) -> str:
    kinds = [kind for kind in SOURCE_KINDS if source.get(kind) is not None]
    if len(kinds) != 1:
        raise ValueError("a batch source needs exactly one of listId, contactIds or filter")
    return kinds[0]


def source_id_pages(hubspot, source: dict) -> Iterator[list[str]]:
    """Contact ids in source order, one vendor page (or id slice) per yield."""
    kind = source_kind(source)
    if kind == "listId":
        yield from hubspot.iter_list_member_ids(str(source["listId"]), page_size=MEMBERSHIP_PAGE)
    elif kind == "contactIds":
        ids = [str(i) for i in source["contactIds"]]
        for start in range(0, len(ids), READ_CHUNK):
            yield ids[start:start + READ_CHUNK]
    else:
        groups = source["filter"]["filterGroups"]
        pages = hubspot.iter_search_contacts(groups, SEARCH_ID_PROPERTIES, page_size=SEARCH_PAGE)
        for page in pages:
            yield [str(contact_id) for contact_id, _properties in page]


def id_chunks(pages: Iterable[list], size: int = READ_CHUNK) -> Iterator[list[str]]:
    """Re-cut pages into chunks of `size` ids, dropping repeats (first occurrence wins)."""
    seen: set[str] = set()
    buffer: list[str] = []
    for page in pages:
        for raw in page:
            contact_id = str(raw)
            if contact_id in seen:
                continue
            seen.add(contact_id)
            buffer.append(contact_id)
            if len(buffer) == size:
                yield buffer
                buffer = []
    if buffer:
        yield buffer
