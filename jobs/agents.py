"""Cache Talkstack's agents for the workflow action's dropdown (read by the web tier)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store.clock import utcnow
from store.models import CachedValue

AGENTS_CACHE_KEY = "talkstack_agents"


def refresh_agents(rt) -> list[dict]:
    agents = [{"id": a.id, "name": a.name or a.id} for a in rt.talkstack.list_agents()]
    insert = sqlite_insert if rt.db.is_sqlite else pg_insert
    with rt.db.session() as session:
        statement = insert(CachedValue).values(
            key=AGENTS_CACHE_KEY, value=agents, updated_at=utcnow()
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": agents, "updated_at": utcnow()}
            )
        )
    return agents
