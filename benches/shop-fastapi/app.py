"""The shop written by hand on FastAPI, as a careful Python team would: the baseline of the
benchmarks ("the stack our users replace"), never part of the product.

The same 14 operations as the generated shop (`specs/shop.yaml`) and its server-sent events of
new orders (`GET /users/{userId}/orders/events`; not the token and export operations), with
the same status codes and JSON bodies and the same SQL (`examples/shop/src/store.rs`), over:

- asyncpg: a pool per worker (`POOL_SIZE`, default 5: two workers hold the 10 connections of
  the Rust shop's pool), opened whole at start, statements prepared and cached per connection
  by asyncpg, a 5 s statement timeout and a 2 s wait for a connection (then 503), as the
  Rust shop;
- redis-py asyncio (hiredis parser): the reads cached with the spec's TTLs as the JSON bytes
  they answer (a hit is one Redis command and no serialization), concurrent misses of one key
  in a worker coalesced into one query, writes dropping exactly the entries the spec
  invalidates (a user's list pages live in one hash, so dropping them is one `DEL`),
  `Cache-Control: no-cache` skipping the read (the answer is still stored);
- the dashboard's three parts read from Redis in one round trip and the missing ones from
  the database at once (`asyncio.gather`), composed without re-encoding (`orjson.Fragment`);
- `POST /batch`, the generated shop's envelope, its items run at once (`asyncio.gather`)
  through the same cached functions as the routes;
- orjson for every body, gzip above 1 KiB (`GZipMiddleware`, level 6 as tower-http's
  default), problem+json errors, uvicorn with uvloop and httptools.

The database is the one the Rust shop migrated and seeded: this app neither migrates nor
seeds. Environment: DATABASE_URL (required), REDIS_URL (default redis://127.0.0.1:6379/0),
POOL_SIZE (default 5). See README.md for how the bench starts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any, Awaitable, Callable, Literal, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg
import orjson
import redis.asyncio as aioredis
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response, StreamingResponse

log = logging.getLogger("shop-fastapi")

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
POOL_SIZE = int(os.environ.get("POOL_SIZE", "5"))
ACQUIRE_TIMEOUT = 2.0  # the Rust shop's `acquire-timeout`
STATEMENT_TIMEOUT_MS = "5000"  # its `statement-timeout`
MAX_BODY = 256 * 1024  # its `max-request-size`
BATCH_MAX = 50  # its `batch.max-requests`

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
JSON = "application/json"
PROBLEM = "application/problem+json"

# Cache TTLs of the spec (`x-cache` / `x-cache-ttl`), in seconds.
TTL_LIST_USERS = 10
TTL_USER = 30
TTL_USER_ORDERS = 10
TTL_STATS = 60
TTL_MY_ORDERS = 10
TTL_ORDER = 30
TTL_PRODUCTS = 5
TTL_PRODUCT = 30


# ---- errors ---------------------------------------------------------------------------

_TITLES = {413: "Payload Too Large", 422: "Unprocessable Entity"}


def _title(status: int) -> str:
    title = _TITLES.get(status)
    if title is None:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
    return title


class ApiError(Exception):
    """An answer other than success, sent as RFC 9457 problem details."""

    __slots__ = ("status", "detail", "invalid", "headers")

    def __init__(self, status: int, detail: Optional[str] = None, invalid=None, headers=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.invalid = invalid
        self.headers = headers

    def body(self) -> bytes:
        problem: dict[str, Any] = {
            "type": "about:blank",
            "title": _title(self.status),
            "status": self.status,
        }
        if self.detail is not None:
            problem["detail"] = self.detail
        if self.invalid:
            problem["invalid-params"] = self.invalid
        return orjson.dumps(problem)

    def response(self) -> Response:
        return Response(self.body(), self.status, self.headers, PROBLEM)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"no {what} has this id")


def invalid_params(params: list[dict]) -> ApiError:
    if len(params) == 1:
        one = params[0]
        detail = f"invalid {one['in']} parameter `{one['name']}`: {one['reason']}"
    else:
        detail = f"{len(params)} invalid parameters"
    return ApiError(400, detail, params)


def database_error(error: BaseException) -> ApiError:
    """A database failure as the Rust shop answers it (runtime/src/backend/database.rs)."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return ApiError(409, "a record with the same unique value exists")
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return ApiError(409, "the record refers to a missing record, or is referred to")
    if isinstance(error, asyncpg.CheckViolationError):
        return ApiError(422, "the record violates a constraint")
    if isinstance(error, asyncpg.QueryCanceledError):
        return ApiError(504, "the query ran past the statement timeout")
    if isinstance(
        error,
        (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
         asyncpg.CannotConnectNowError),
    ):
        log.warning("the database is unavailable: %s", error)
        return ApiError(503, "the database is unavailable", headers={"retry-after": "1"})
    log.error("database error: %r", error)
    return ApiError(500)


# ---- services: pool and Redis ----------------------------------------------------------

# Opened per worker by `lifespan`.
pool: asyncpg.Pool = None  # type: ignore[assignment]
cache: aioredis.Redis = None  # type: ignore[assignment]


class _Connection:
    """`async with connection() as conn`: a pooled connection, waited for at most
    ACQUIRE_TIMEOUT (then 503, like the Rust shop), database errors turned into answers."""

    __slots__ = ("conn",)

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            self.conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT)
        except asyncio.TimeoutError:
            raise ApiError(
                503, "every database connection is busy; retry shortly",
                headers={"retry-after": "1"},
            ) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise database_error(error) from None
        return self.conn

    async def __aexit__(self, kind, error, trace):
        await pool.release(self.conn)
        if error is not None and not isinstance(error, (ApiError, asyncio.CancelledError)):
            if isinstance(error, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                raise database_error(error) from None
        return False


connection = _Connection


# ---- the store: the SQL of examples/shop/src/store.rs ---------------------------------

PRODUCT_COLUMNS = "id, sku, name, price_cents, stock"
USER_COLUMNS = "id, email, name, tier, created_at"
ORDER_COLUMNS = "id, user_id, status, total_cents, items, shipping, created_at"

SQL_PRODUCT_BY_ID = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ($1)"
SQL_LIST_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1"
SQL_CREATE_PRODUCT = (
    "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4) "
    f"RETURNING {PRODUCT_COLUMNS}"
)
SQL_DELETE_PRODUCT = "DELETE FROM products WHERE id = $1"
SQL_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id IN ($1)"
SQL_LIST_USERS = f"SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"
SQL_CREATE_USER = (
    "INSERT INTO users (email, name, tier, token, created_at) VALUES ($1, $2, $3, $4, $5) "
    f"RETURNING {USER_COLUMNS}"
)
SQL_USER_BY_TOKEN = "SELECT id FROM users WHERE token = $1"
SQL_ORDER_BY_ID = f"SELECT {ORDER_COLUMNS} FROM orders WHERE id IN ($1)"
SQL_RECENT_ORDERS = (
    f"SELECT {ORDER_COLUMNS} FROM (SELECT {ORDER_COLUMNS}, ROW_NUMBER() OVER "
    "(PARTITION BY user_id ORDER BY id DESC) AS position FROM orders WHERE user_id IN ($1)"
    ") AS ranked WHERE position <= $2 ORDER BY user_id, id DESC"
)
SQL_USER_EXISTS = "SELECT COUNT(*) FROM users WHERE id = $1"
SQL_CREATE_ORDER = (
    "INSERT INTO orders (user_id, status, total_cents, items, shipping, created_at) "
    f"VALUES ($1, 'pending', $2, $3, $4, $5) RETURNING {ORDER_COLUMNS}"
)
SQL_UPDATE_ORDER = f"UPDATE orders SET status = $1 WHERE id = $2 RETURNING {ORDER_COLUMNS}"
SQL_STATS = (
    "SELECT user_id, status, COUNT(*), CAST(SUM(total_cents) AS BIGINT), "
    "MIN(created_at), MAX(created_at) FROM orders WHERE user_id IN ($1) "
    "GROUP BY user_id, status"
)


def product_json(row) -> dict:
    return {
        "sku": row[1],
        "name": row[2],
        "price_cents": row[3],
        "stock": row[4],
        "id": row[0],
    }


def user_json(row) -> dict:
    return {
        "id": row[0],
        "email": row[1],
        "name": row[2],
        "tier": "gold" if row[3] == "gold" else "standard",
        "created_at": row[4],
    }


_loads = orjson.loads
_dumps = orjson.dumps


def order_json(row) -> dict:
    return {
        "id": row[0],
        "user_id": row[1],
        "status": row[2],
        "total_cents": row[3],
        "items": _loads(row[4]),
        "shipping": _loads(row[5]),
        "created_at": row[6],
    }


def page_json(items: list, limit: int) -> dict:
    """The first `limit` of `items` (which may hold one more), and the next page's cursor."""
    if len(items) > limit:
        del items[limit:]
        return {"items": items, "next": items[-1]["id"] if items else None}
    return {"items": items, "next": None}


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def user_exists(conn, user_id: int) -> bool:
    return bool(await conn.fetchval(SQL_USER_BY_ID, user_id))


async def load_user(user_id: int) -> bytes:
    async with connection() as conn:
        row = await conn.fetchrow(SQL_USER_BY_ID, user_id)
    if row is None:
        raise not_found("user")
    return _dumps(user_json(row))


async def load_recent(user_id: int, limit: int) -> bytes:
    """A user's newest orders; an empty page for a user without orders, 404 without user."""
    async with connection() as conn:
        rows = await conn.fetch(SQL_RECENT_ORDERS, user_id, limit + 1)
        if not rows and not await user_exists(conn, user_id):
            raise not_found("user")
    return _dumps(page_json([order_json(row) for row in rows], limit))


async def load_user_orders(
    user_id: int, limit: int, status: Optional[str], before: Optional[int]
) -> bytes:
    if status is None and before is None:
        return await load_recent(user_id, limit)
    sql = f"SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1"
    args: list[Any] = [user_id]
    if status is not None:
        args.append(status)
        sql += f" AND status = ${len(args)}"
    if before is not None:
        args.append(before)
        sql += f" AND id < ${len(args)}"
    args.append(limit + 1)
    sql += f" ORDER BY id DESC LIMIT ${len(args)}"
    async with connection() as conn:
        rows = await conn.fetch(sql, *args)
        if not rows and not await user_exists(conn, user_id):
            raise not_found("user")
    return _dumps(page_json([order_json(row) for row in rows], limit))


def no_orders(user_id: int) -> dict:
    return {
        "user_id": user_id,
        "orders": 0,
        "spent_cents": 0,
        "average_cents": 0,
        "first_order_at": None,
        "last_order_at": None,
        "by_status": {},
    }


async def load_stats(user_id: int) -> bytes:
    async with connection() as conn:
        rows = await conn.fetch(SQL_STATS, user_id)
        if not rows and not await user_exists(conn, user_id):
            raise not_found("user")
    stats = no_orders(user_id)
    by_status = stats["by_status"]
    orders = spent = 0
    first = last = None
    for _, status, count, total, first_at, last_at in sorted(rows, key=lambda r: r[1]):
        orders += count
        if status != "cancelled":
            spent += total
        if first is None or first_at < first:
            first = first_at
        if last is None or last_at > last:
            last = last_at
        by_status[status] = {"orders": count, "spent_cents": total}
    counted = orders - by_status.get("cancelled", {}).get("orders", 0)
    stats.update(
        orders=orders,
        spent_cents=spent,
        average_cents=spent // counted if counted > 0 else 0,
        first_order_at=first,
        last_order_at=last,
    )
    return _dumps(stats)


async def load_order(order_id: int) -> bytes:
    async with connection() as conn:
        row = await conn.fetchrow(SQL_ORDER_BY_ID, order_id)
    if row is None:
        raise not_found("order")
    return _dumps(order_json(row))


async def load_products(limit: int) -> bytes:
    async with connection() as conn:
        rows = await conn.fetch(SQL_LIST_PRODUCTS, limit)
    return _dumps([product_json(row) for row in rows])


async def load_product(product_id: int) -> bytes:
    async with connection() as conn:
        row = await conn.fetchrow(SQL_PRODUCT_BY_ID, product_id)
    if row is None:
        raise not_found("product")
    return _dumps(product_json(row))


async def load_users(limit: int, after: Optional[int]) -> bytes:
    async with connection() as conn:
        rows = await conn.fetch(SQL_LIST_USERS, after or 0, limit + 1)
    return _dumps(page_json([user_json(row) for row in rows], limit))


# ---- the cache --------------------------------------------------------------------------
#
# One Redis key per single thing (`shop:user:7`), one hash per list whose fields are its
# pages (`shop:orders:7` holds `10||`, `3|paid|`, ...): a write drops a list with one `DEL`.
# A hash expires TTL after its first page was stored (`EXPIRE NX`): no page is ever older
# than the TTL.

K_USERS = "shop:users"
K_PRODUCTS = "shop:products"


def k_user(user_id: int) -> str:
    return f"shop:user:{user_id}"


def k_orders(user_id: int) -> str:
    return f"shop:orders:{user_id}"


def k_stats(user_id: int) -> str:
    return f"shop:stats:{user_id}"


def k_me(user_id: int) -> str:
    return f"shop:me:{user_id}"


def k_order(order_id: int) -> str:
    return f"shop:order:{order_id}"


def k_product(product_id: int) -> str:
    return f"shop:product:{product_id}"


def orders_field(limit: int, status: Optional[str], before: Optional[int]) -> str:
    return f"{limit}|{status or ''}|{'' if before is None else before}"


_cache_down_logged = 0.0


def _cache_failed(error: BaseException) -> None:
    # The cache is an optimization: when Redis fails, the database answers.
    global _cache_down_logged
    if time.monotonic() - _cache_down_logged > 10:
        _cache_down_logged = time.monotonic()
        log.warning("redis: %s (answering from the database)", error)


async def cache_read(key: str, field: Optional[str]) -> Optional[bytes]:
    try:
        if field is None:
            return await cache.get(key)
        return await cache.hget(key, field)
    except (RedisError, OSError) as error:
        _cache_failed(error)
        return None


async def cache_store(key: str, field: Optional[str], ttl: int, body: bytes) -> None:
    try:
        if field is None:
            await cache.set(key, body, ex=ttl)
        else:
            pipe = cache.pipeline(transaction=False)
            pipe.hset(key, field, body)
            pipe.expire(key, ttl, nx=True)
            await pipe.execute()
    except (RedisError, OSError) as error:
        _cache_failed(error)


async def invalidate(*keys: str) -> None:
    try:
        await cache.delete(*keys)
    except (RedisError, OSError) as error:
        _cache_failed(error)


# Misses of one entry in flight in this worker: later requests wait for the first one's answer.
_in_flight: dict[tuple, asyncio.Future] = {}


async def cached(
    key: str,
    field: Optional[str],
    ttl: int,
    load: Callable[[], Awaitable[bytes]],
    fresh: bool = False,
    read: bool = True,
) -> bytes:
    """The JSON of an entry: from Redis when it holds it (unless `fresh`, the client's
    `no-cache`), else from `load`, stored with `ttl`. Only successes are stored."""
    if fresh:
        body = await load()
        await cache_store(key, field, ttl, body)
        return body
    if read:
        body = await cache_read(key, field)
        if body is not None:
            return body
    flight = (key, field)
    waiting = _in_flight.get(flight)
    if waiting is not None:
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if not waiting.cancelled():
                raise  # this request was cancelled
            # The first request was (its dashboard timed out): read it for this one.
            return await cached(key, field, ttl, load, fresh, read=False)
    future = asyncio.get_running_loop().create_future()
    _in_flight[flight] = future
    try:
        body = await load()
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as error:
        future.set_exception(error)
        future.exception()  # retrieved: no "never retrieved" warning when nobody waited
        raise
    finally:
        del _in_flight[flight]
    future.set_result(body)
    await cache_store(key, field, ttl, body)
    return body


# The reads, each through its cache entry: what the routes, the dashboard and the batch call.

def get_user(user_id: int, fresh=False, read=True) -> Awaitable[bytes]:
    return cached(k_user(user_id), None, TTL_USER, lambda: load_user(user_id), fresh, read)


def get_user_orders(user_id, limit=10, status=None, before=None, fresh=False, read=True):
    return cached(
        k_orders(user_id), orders_field(limit, status, before), TTL_USER_ORDERS,
        lambda: load_user_orders(user_id, limit, status, before), fresh, read,
    )


def get_stats(user_id: int, fresh=False, read=True) -> Awaitable[bytes]:
    return cached(k_stats(user_id), None, TTL_STATS, lambda: load_stats(user_id), fresh, read)


def get_order(order_id: int, fresh=False) -> Awaitable[bytes]:
    return cached(k_order(order_id), None, TTL_ORDER, lambda: load_order(order_id), fresh)


def get_products(limit: int, fresh=False) -> Awaitable[bytes]:
    return cached(K_PRODUCTS, str(limit), TTL_PRODUCTS, lambda: load_products(limit), fresh)


def get_product(product_id: int, fresh=False) -> Awaitable[bytes]:
    return cached(
        k_product(product_id), None, TTL_PRODUCT, lambda: load_product(product_id), fresh
    )


def get_users(limit: int, after: Optional[int], fresh=False) -> Awaitable[bytes]:
    field = f"{limit}|{'' if after is None else after}"
    return cached(K_USERS, field, TTL_LIST_USERS, lambda: load_users(limit, after), fresh)


DASHBOARD_ORDERS_FIELD = orders_field(10, None, None)
DASHBOARD_TIMEOUT = 2.0


async def get_dashboard(user_id: int, fresh: bool) -> bytes:
    """The user, their newest orders and their statistics, each through its own entry: the
    three entries read in one round trip, the missing ones from the database at once."""
    user = orders = stats = None
    if not fresh:
        try:
            pipe = cache.pipeline(transaction=False)
            pipe.get(k_user(user_id))
            pipe.hget(k_orders(user_id), DASHBOARD_ORDERS_FIELD)
            pipe.get(k_stats(user_id))
            user, orders, stats = await pipe.execute()
        except (RedisError, OSError) as error:
            _cache_failed(error)
    if user is None or orders is None or stats is None:
        parts = await asyncio.gather(
            get_user(user_id, fresh, read=False) if user is None else _done(user),
            get_user_orders(user_id, fresh=fresh, read=False) if orders is None else _done(orders),
            get_stats(user_id, fresh, read=False) if stats is None else _done(stats),
            return_exceptions=True,
        )
        for part in parts:  # the first failing part (user, orders, stats) answers
            if isinstance(part, BaseException):
                raise part
        user, orders, stats = parts
    return _dumps({
        "user": orjson.Fragment(user),
        "orders": orjson.Fragment(orders),
        "stats": orjson.Fragment(stats),
    })


async def _done(value: bytes) -> bytes:
    return value


# Bearer tokens never change and users are never deleted: each worker remembers whose a
# token is, so a cached `/me/orders` costs no query.
_callers: dict[str, int] = {}


async def caller(request: Request) -> int:
    header = request.headers.get("authorization")
    token = header[7:].strip() if header and header.startswith("Bearer ") else ""
    if not token:
        raise ApiError(401, "a bearer token is required")
    user_id = _callers.get(token)
    if user_id is None:
        async with connection() as conn:
            user_id = await conn.fetchval(SQL_USER_BY_TOKEN, token)
        if user_id is None:
            raise ApiError(401, "the token names no user")
        if len(_callers) >= 100_000:
            _callers.clear()
        _callers[token] = user_id
    return user_id


# ---- the writes ----------------------------------------------------------------------------

Int64 = Annotated[int, Field(strict=True, ge=I64_MIN, le=I64_MAX)]


class NewUser(BaseModel):
    email: Annotated[str, Field(strict=True, min_length=3, max_length=254,
                                pattern=r"^[^@\s]+@[^@\s]+$")]
    name: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    tier: Literal["standard", "gold"] = "standard"


class NewOrderItem(BaseModel):
    product_id: Int64
    quantity: Annotated[int, Field(strict=True, ge=1, le=1000)]


class Address(BaseModel):
    street: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    city: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    postcode: Optional[Annotated[str, Field(strict=True, max_length=20)]] = None
    country: Annotated[str, Field(strict=True, pattern=r"^[A-Z]{2}$")]


class NewOrder(BaseModel):
    items: Annotated[list[NewOrderItem], Field(min_length=1, max_length=50)]
    shipping: Address


class OrderUpdate(BaseModel):
    status: Literal["pending", "paid", "shipped", "cancelled"]


class NewProduct(BaseModel):
    sku: Annotated[str, Field(strict=True, min_length=1)]
    name: Annotated[str, Field(strict=True, min_length=1)]
    price_cents: Annotated[int, Field(strict=True, ge=0, le=100_000_000_000)]
    stock: Optional[Annotated[int, Field(strict=True, ge=0, le=I64_MAX)]] = None


def body_problem(error: ValidationError) -> ApiError:
    params = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        params.append({
            "in": "body",
            "name": "/" + "/".join(loc) if loc else "",
            "reason": item["msg"],
        })
    first = params[0]
    where = f"`{first['name']}`" if first["name"] else "its root"
    places = "1 place" if len(params) == 1 else f"{len(params)} places"
    return ApiError(
        422,
        f"the request body breaks its schema in {places}; first at {where}: {first['reason']}",
        params,
    )


def validate(model: type[BaseModel], value: Any):
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise body_problem(error) from None


async def json_body(request: Request, model: type[BaseModel]):
    media = request.headers.get("content-type", "")
    base = media.split(";", 1)[0].strip().lower()
    # No content type is read as JSON, as the Rust shop does.
    if base and base != JSON and not (base.startswith("application/") and base.endswith("+json")):
        raise ApiError(
            415, f"content type `{base}` is not accepted here; send one of: application/json"
        )
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the request body is larger than {MAX_BODY} bytes")
    try:
        value = _loads(raw)
    except orjson.JSONDecodeError as error:
        reason = str(error)
        raise ApiError(
            400, f"invalid request body: {reason}",
            [{"in": "body", "name": "", "reason": reason}],
        ) from None
    return validate(model, value)


async def create_user(new: NewUser) -> bytes:
    token = secrets.token_hex(16)
    async with connection() as conn:
        row = await conn.fetchrow(
            SQL_CREATE_USER, new.email, new.name, new.tier, token, now_rfc3339()
        )
    await invalidate(K_USERS)
    user = user_json(row)
    user["token"] = token
    return _dumps(user)


async def create_order(user_id: int, new: NewOrder) -> bytes:
    ids = [item.product_id for item in new.items]
    shipping: dict[str, Any] = {"street": new.shipping.street, "city": new.shipping.city}
    if new.shipping.postcode is not None:
        shipping["postcode"] = new.shipping.postcode
    shipping["country"] = new.shipping.country
    async with connection() as conn:
        if not await conn.fetchval(SQL_USER_EXISTS, user_id):
            raise not_found("user")
        placeholders = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        rows = await conn.fetch(
            f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({placeholders})", *ids
        )
        prices = {row[0]: row[3] for row in rows}
        total = 0
        items = []
        for item in new.items:
            price = prices.get(item.product_id)
            if price is None:
                raise ApiError(409, f"no product has the id {item.product_id}")
            total += price * item.quantity
            if total > I64_MAX:
                raise ApiError(409, "the order's total is too large")
            items.append({
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price_cents": price,
            })
        row = await conn.fetchrow(
            SQL_CREATE_ORDER, user_id, total, _dumps(items).decode(),
            _dumps(shipping).decode(), now_rfc3339(),
        )
    # `x-cache-invalidates`: the user's order lists and statistics, and their `/me/orders`.
    await invalidate(k_orders(user_id), k_stats(user_id), k_me(user_id))
    return _dumps(order_json(row))


async def update_order(order_id: int, update: OrderUpdate) -> bytes:
    async with connection() as conn:
        row = await conn.fetchrow(SQL_UPDATE_ORDER, update.status, order_id)
    if row is None:
        raise not_found("order")
    owner = row[1]
    # The order, and its owner's lists and statistics (the spec drops those of every user:
    # written by hand, the owner is known).
    await invalidate(k_order(order_id), k_orders(owner), k_stats(owner), k_me(owner))
    return _dumps(order_json(row))


async def create_product(new: NewProduct) -> bytes:
    async with connection() as conn:
        row = await conn.fetchrow(
            SQL_CREATE_PRODUCT, new.sku, new.name, new.price_cents,
            new.stock if new.stock is not None else 0,
        )
    await invalidate(K_PRODUCTS)
    return _dumps(product_json(row))


async def delete_product(product_id: int) -> None:
    async with connection() as conn:
        done = await conn.execute(SQL_DELETE_PRODUCT, product_id)
    if done == "DELETE 0":
        raise not_found("product")
    await invalidate(k_product(product_id), K_PRODUCTS)


# ---- new orders as server-sent events ----------------------------------------------------
#
# As the Rust shop's `news.rs`: one reader per worker (started by the first watcher) asks the
# database for the orders after the last it saw four times a second and hands each to every
# watcher of the worker; a watcher resumes after its `Last-Event-ID`.

NEWS_EVERY = 0.25
KEEP_ALIVE = 15.0
SQL_LAST_ORDER = "SELECT COALESCE(MAX(id), 0) FROM orders"
SQL_ORDERS_AFTER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE id > $1 ORDER BY id LIMIT $2"
SQL_USER_ORDERS_AFTER = (
    f"SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
)


class OrderNews:
    def __init__(self) -> None:
        self.watchers: set[asyncio.Queue] = set()
        self.reader: Optional[asyncio.Task] = None
        self.last = 0
        self.starting = asyncio.Lock()

    async def subscribe(self) -> asyncio.Queue:
        async with self.starting:
            if self.reader is None:
                async with connection() as conn:
                    self.last = await conn.fetchval(SQL_LAST_ORDER)
                self.reader = asyncio.create_task(self.read())
        queue: asyncio.Queue = asyncio.Queue(maxsize=1024)
        self.watchers.add(queue)
        return queue

    async def read(self) -> None:
        while True:
            await asyncio.sleep(NEWS_EVERY)
            try:
                async with connection() as conn:
                    if not self.watchers:
                        self.last = await conn.fetchval(SQL_LAST_ORDER)
                        continue
                    rows = await conn.fetch(SQL_ORDERS_AFTER, self.last, 1000)
            except ApiError:
                continue
            for row in rows:
                self.last = row[0]
                order = order_json(row)
                for queue in list(self.watchers):
                    if queue.full():  # a watcher that fell behind skips what it missed
                        queue.get_nowait()
                    queue.put_nowait(order)


news = OrderNews()


def order_event(order: dict) -> bytes:
    return b"id: %d\nevent: order\ndata: %s\n\n" % (order["id"], _dumps(order))


# ---- the app -----------------------------------------------------------------------------

@asynccontextmanager
async def lifespan(_app: FastAPI):
    global pool, cache
    if not DATABASE_URL:
        raise RuntimeError("DATABASE_URL is required (a database the Rust shop has seeded)")
    pool = await asyncpg.create_pool(
        DATABASE_URL,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        server_settings={
            "statement_timeout": STATEMENT_TIMEOUT_MS,
            "application_name": "shop-fastapi",
        },
    )
    # One connection per command in flight (redis-py does not multiplex); past 512 a command
    # fails and the database answers.
    cache = aioredis.Redis.from_url(
        REDIS_URL, max_connections=512, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        yield
    finally:
        await cache.aclose()
        await pool.close()


app = FastAPI(
    title="shop (FastAPI baseline)",
    lifespan=lifespan,
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)
app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)


@app.exception_handler(ApiError)
async def on_api_error(_request: Request, error: ApiError) -> Response:
    return error.response()


@app.exception_handler(asyncpg.PostgresError)
@app.exception_handler(asyncpg.InterfaceError)
@app.exception_handler(OSError)
async def on_database_error(_request: Request, error: Exception) -> Response:
    return database_error(error).response()


@app.exception_handler(RequestValidationError)
async def on_invalid_params(_request: Request, error: RequestValidationError) -> Response:
    params = []
    for item in error.errors():
        loc = item.get("loc", ())
        params.append({
            "in": str(loc[0]) if loc else "query",
            "name": str(loc[1]) if len(loc) > 1 else "",
            "reason": item.get("msg", "invalid"),
        })
    return invalid_params(params).response()


@app.exception_handler(StarletteHTTPException)
async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
    if error.status_code == 404:
        detail = f"no operation at `{request.url.path}`"
    elif error.status_code == 405:
        detail = f"`{request.method}` is not defined for `{request.url.path}`"
    else:
        detail = str(error.detail)
    return ApiError(error.status_code, detail, headers=error.headers).response()


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type=JSON)


def wants_fresh(headers) -> bool:
    """`Cache-Control: no-cache` (or `max-age=0`, or `Pragma: no-cache`): skip the read."""
    directives = headers.get("cache-control") or headers.get("pragma")
    if not directives:
        return False
    directives = [d.strip() for d in directives.lower().split(",")]
    return "no-cache" in directives or "max-age=0" in directives


UserId = Annotated[int, Path(alias="userId", ge=I64_MIN, le=I64_MAX)]
OrderId = Annotated[int, Path(alias="orderId", ge=I64_MIN, le=I64_MAX)]
ProductId = Annotated[int, Path(alias="productId", ge=I64_MIN, le=I64_MAX)]
Cursor = Annotated[Optional[int], Query(ge=0, le=I64_MAX)]


@app.get("/users")
async def list_users_route(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Cursor = None,
):
    return json_response(await get_users(limit, after, wants_fresh(request.headers)))


@app.post("/users")
async def create_user_route(request: Request):
    return json_response(await create_user(await json_body(request, NewUser)), 201)


@app.get("/users/{userId}")
async def get_user_route(request: Request, user_id: UserId):
    return json_response(await get_user(user_id, wants_fresh(request.headers)))


@app.get("/users/{userId}/orders")
async def list_user_orders_route(
    request: Request,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    status: Optional[Literal["pending", "paid", "shipped", "cancelled"]] = None,
    before: Cursor = None,
):
    body = await get_user_orders(
        user_id, limit, status, before, fresh=wants_fresh(request.headers)
    )
    return json_response(body)


@app.post("/users/{userId}/orders")
async def create_order_route(request: Request, user_id: UserId):
    return json_response(await create_order(user_id, await json_body(request, NewOrder)), 201)


@app.get("/users/{userId}/stats")
async def get_user_stats_route(request: Request, user_id: UserId):
    return json_response(await get_stats(user_id, wants_fresh(request.headers)))


@app.get("/users/{userId}/dashboard")
async def get_dashboard_route(request: Request, user_id: UserId):
    try:
        async with asyncio.timeout(DASHBOARD_TIMEOUT):
            body = await get_dashboard(user_id, wants_fresh(request.headers))
    except TimeoutError:
        raise ApiError(504, "`getDashboard` took longer than its timeout of 2000 ms") from None
    return json_response(body)


@app.get("/me/orders")
async def list_my_orders_route(
    request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 10
):
    user_id = await caller(request)
    body = await cached(
        k_me(user_id), str(limit), TTL_MY_ORDERS,
        lambda: load_recent(user_id, limit), wants_fresh(request.headers),
    )
    return json_response(body)


@app.get("/users/{userId}/orders/events")
async def watch_user_orders_route(request: Request, user_id: UserId):
    async with connection() as conn:
        if not await user_exists(conn, user_id):
            raise not_found("user")
    # Subscribed before the missed orders are read: none falls between the two.
    queue = await news.subscribe()
    try:
        resume = int(request.headers.get("last-event-id", ""))
    except ValueError:
        resume = None
    missed = []
    if resume is not None:
        async with connection() as conn:
            missed = [order_json(row) for row in
                      await conn.fetch(SQL_USER_ORDERS_AFTER, user_id, resume, 100)]

    async def events():
        sent = missed[-1]["id"] if missed else (resume or 0)
        try:
            for order in missed:
                yield order_event(order)
            while True:
                try:
                    order = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    yield b":\n\n"
                    continue
                if order["user_id"] == user_id and order["id"] > sent:
                    sent = order["id"]
                    yield order_event(order)
        finally:
            news.watchers.discard(queue)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


@app.get("/orders/{orderId}")
async def get_order_route(request: Request, order_id: OrderId):
    return json_response(await get_order(order_id, wants_fresh(request.headers)))


@app.patch("/orders/{orderId}")
async def update_order_route(request: Request, order_id: OrderId):
    return json_response(await update_order(order_id, await json_body(request, OrderUpdate)))


@app.get("/products")
async def list_products_route(
    request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20
):
    return json_response(await get_products(limit, wants_fresh(request.headers)))


@app.post("/products")
async def create_product_route(request: Request):
    return json_response(await create_product(await json_body(request, NewProduct)), 201)


@app.get("/products/{productId}")
async def get_product_route(request: Request, product_id: ProductId):
    return json_response(await get_product(product_id, wants_fresh(request.headers)))


@app.delete("/products/{productId}")
async def delete_product_route(product_id: ProductId):
    await delete_product(product_id)
    return Response(status_code=204)


@app.get("/healthz")
async def healthz():
    return Response(b"ok", headers={"cache-control": "no-store"}, media_type="text/plain")


@app.get("/readyz")
async def readyz():
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            await cache.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        problem = ApiError(503, f"not ready: {error!r}", headers={"retry-after": "1"})
        return problem.response()
    return Response(b"ready", headers={"cache-control": "no-store"}, media_type="text/plain")


# ---- POST /batch -----------------------------------------------------------------------------
#
# The generated shop's envelope (runtime/src/compose/batch.rs, Microsoft Graph's JSON batching):
# {"requests": [{"id", "method", "url", "headers"?, "body"?}]} answers
# {"responses": [{"id", "status", "headers", "body"}]} in request order. The items are the
# operations of the spec's batch groups (`reads`: getUser, listUserOrders, getOrder,
# listProducts, getProduct; `writes`: createProduct), run at once through the same cached
# functions as the routes. As in the Rust shop, a batch naming another operation of the API
# is refused whole (400); a URL that names no operation at all answers a 404 item.

_ID = r"([^/]+)"
BATCH_ROUTES = [
    ("GET", re.compile(rf"^/users/{_ID}$"), "getUser"),
    ("GET", re.compile(rf"^/users/{_ID}/orders$"), "listUserOrders"),
    ("GET", re.compile(rf"^/orders/{_ID}$"), "getOrder"),
    ("GET", re.compile(r"^/products$"), "listProducts"),
    ("GET", re.compile(rf"^/products/{_ID}$"), "getProduct"),
    ("POST", re.compile(r"^/products$"), "createProduct"),
]
# The API's other routes: outside every batch group.
OTHER_ROUTES = [
    re.compile(p) for p in (
        r"^/users$", r"^/users/[^/]+$", r"^/users/[^/]+/orders$", r"^/users/[^/]+/stats$",
        r"^/users/[^/]+/dashboard$", r"^/me/orders$", r"^/orders/[^/]+$", r"^/products$",
        r"^/products/[^/]+$", r"^/batch$",
    )
]
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
STATUSES = ("pending", "paid", "shipped", "cancelled")


def _integer(text: str, where: str, name: str, low: int, high: int, bad: list) -> Optional[int]:
    if not _INTEGER.match(text):
        bad.append({"in": where, "name": name, "reason": "invalid digit found in string"})
        return None
    value = int(text)
    if value < low:
        bad.append({"in": where, "name": name,
                    "reason": f"{value} is less than the minimum of {low}"})
    elif value > high:
        bad.append({"in": where, "name": name,
                    "reason": f"{value} is greater than the maximum of {high}"})
    else:
        return value
    return None


def _route(method: str, path: str):
    for route_method, pattern, operation in BATCH_ROUTES:
        if route_method == method:
            found = pattern.match(path)
            if found:
                return operation, found.groups()
    return None


async def _run_item(operation: str, captures, query: dict, body, fresh: bool):
    """One item: (status, body bytes or None)."""
    bad: list = []
    if operation == "createProduct":
        return 201, await create_product(validate(NewProduct, body))
    ident = None
    if captures:
        name = {"getUser": "userId", "listUserOrders": "userId", "getOrder": "orderId",
                "getProduct": "productId"}[operation]
        ident = _integer(unquote(captures[0]), "path", name, I64_MIN, I64_MAX, bad)
    if operation == "getUser":
        if bad:
            raise invalid_params(bad)
        return 200, await get_user(ident, fresh)
    if operation == "getOrder":
        if bad:
            raise invalid_params(bad)
        return 200, await get_order(ident, fresh)
    if operation == "getProduct":
        if bad:
            raise invalid_params(bad)
        return 200, await get_product(ident, fresh)
    default = 10 if operation == "listUserOrders" else 20
    limit = default
    if "limit" in query:
        limit = _integer(query["limit"], "query", "limit", 1, 100, bad)
    if operation == "listProducts":
        if bad:
            raise invalid_params(bad)
        return 200, await get_products(limit, fresh)
    status = query.get("status")
    if status is not None and status not in STATUSES:
        bad.append({"in": "query", "name": "status",
                    "reason": f"unknown variant `{status}`, expected one of "
                              "`pending`, `paid`, `shipped`, `cancelled`"})
    before = None
    if "before" in query:
        before = _integer(query["before"], "query", "before", 0, I64_MAX, bad)
    if bad:
        raise invalid_params(bad)
    return 200, await get_user_orders(ident, limit, status, before, fresh=fresh)


async def _answer(item_id: str, call) -> dict:
    try:
        status, body = await call
        media = JSON
    except ApiError as error:
        status, body, media = error.status, error.body(), PROBLEM
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        problem = database_error(error)
        status, body, media = problem.status, problem.body(), PROBLEM
    answer: dict[str, Any] = {"id": item_id, "status": status, "headers": {"content-type": media}}
    if body is not None:
        answer["body"] = orjson.Fragment(body)
    return answer


async def _not_found(path: str):
    raise ApiError(404, f"no operation at `{path}`")


@app.post("/batch")
async def batch_route(request: Request):
    raw = await request.body()
    if len(raw) > 1 << 20:
        raise ApiError(413, f"the batch is larger than {1 << 20} bytes")
    try:
        envelope = _loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(
            400, f"the batch is not a `{{\"requests\": [...]}}` envelope: {error}"
        ) from None
    items = envelope.get("requests") if isinstance(envelope, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(400, "the batch is not a `{\"requests\": [...]}` envelope")
    if not items:
        raise ApiError(400, "the batch has no requests")
    if len(items) > BATCH_MAX:
        raise ApiError(
            400, f"the batch has {len(items)} requests; at most {BATCH_MAX} are allowed"
        )
    outer_fresh = wants_fresh(request.headers)
    seen: set = set()
    calls = []
    for item in items:
        item_id, method, url = item.get("id"), item.get("method"), item.get("url")
        if not all(isinstance(v, str) for v in (item_id, method, url)):
            raise ApiError(400, "each request of the batch needs a string `id`, `method` and `url`")
        if item_id in seen:
            raise ApiError(400, f"two requests have the id `{item_id}`")
        seen.add(item_id)
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            raise ApiError(
                400, f"request `{item_id}`: `{url}` is not a path such as `/items/1`"
            )
        method = method.upper()
        path = parts.path
        if path == "/batch":
            raise ApiError(400, f"request `{item_id}`: a batch cannot hold a batch")
        found = _route(method, path)
        if found is None:
            if any(pattern.match(path) for pattern in OTHER_ROUTES):
                raise ApiError(
                    400,
                    f"request `{item_id}`: `{method} {path}` is not an operation of a batch group",
                )
            calls.append((item_id, None, path, None, None, False))
            continue
        operation, captures = found
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, value)  # the first of a repeated name, as the Rust shop
        headers = item.get("headers") or {}
        fresh = outer_fresh or (isinstance(headers, dict) and wants_fresh(
            {k.lower(): v for k, v in headers.items() if isinstance(v, str)}
        ))
        calls.append((item_id, operation, captures, query, item.get("body"), fresh))
    # Every item checked before any runs: a batch refused whole runs nothing.
    answers = await asyncio.gather(*(
        _answer(item_id, _run_item(operation, captures, query, body, fresh)
                if operation is not None else _not_found(captures))
        for item_id, operation, captures, query, body, fresh in calls
    ))
    return json_response(_dumps({"responses": answers}))
