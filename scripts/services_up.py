"""Exit 0 when both the PostgreSQL and the Redis URL given answer, else 1 (with why)."""

import sys


def main(pg_url: str, redis_url: str) -> int:
    try:
        import psycopg
        import redis

        psycopg.connect(pg_url, connect_timeout=3).close()
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:  # any failure means "not available here"
        print(f"services not reachable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
